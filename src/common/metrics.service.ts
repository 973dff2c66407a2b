import { Injectable } from '@nestjs/common';
import { Counter, Registry, collectDefaultMetrics, type MetricValue, type MetricValueWithName } from 'prom-client';

/** The Prometheus registry of the BFF and the metrics every module shares. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** bff_http_requests_total and bff_http_request_duration_seconds (see RequestMetrics). */
  readonly requests = new RequestMetrics(this.registry);

  readonly authFailures = new Counter({
    name: 'bff_auth_failures_total',
    help: 'Requests refused by authentication or authorization, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Counts one answered request and its duration. Route is the route pattern, so the series stay bounded. */
  recordRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.record(route, method, status, seconds);
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bff_' });
  }

  /** A module's own counter, registered once. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface RequestSeries {
  labels: { route: string; method: string; status: string };
  count: number;
}
interface DurationSeries {
  route: string;
  /** Non-cumulative counts per bucket; the last one is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The two metrics every request updates, kept as plain counters and rendered on scrape.
 * prom-client's Counter and Histogram hash their label object on every update (children
 * included), which cost more per request than the authentication of a cached token; these
 * are registered in the same registry, as a counter and a histogram with the same names,
 * labels and buckets.
 */
export class RequestMetrics {
  private readonly requests = new Map<string, RequestSeries>();
  private readonly durations = new Map<string, DurationSeries>();

  constructor(registry: Registry) {
    registry.registerMetric(
      this.metric('bff_http_requests_total', 'HTTP requests answered, by route pattern, method and status', 'counter', () =>
        [...this.requests.values()].map((r) => ({ labels: { ...r.labels }, value: r.count })),
      ),
    );
    registry.registerMetric(this.metric('bff_http_request_duration_seconds', 'HTTP request duration by route pattern', 'histogram', () => this.histogramValues()));
  }

  record(route: string, method: string, status: number, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let r = this.requests.get(key);
    if (r === undefined) {
      r = { labels: { route, method, status: String(status) }, count: 0 };
      this.requests.set(key, r);
    }
    r.count++;
    let d = this.durations.get(route);
    if (d === undefined) {
      d = { route, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.durations.set(route, d);
    }
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    d.buckets[i]++;
    d.sum += seconds;
    d.count++;
  }

  private histogramValues(): MetricValueWithName<string>[] {
    const out: MetricValueWithName<string>[] = [];
    for (const d of this.durations.values()) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += d.buckets[i];
        out.push({ metricName: 'bff_http_request_duration_seconds_bucket', labels: { le, route: d.route }, value: cumulative });
      });
      out.push({ metricName: 'bff_http_request_duration_seconds_bucket', labels: { le: '+Inf', route: d.route }, value: d.count });
      out.push({ metricName: 'bff_http_request_duration_seconds_sum', labels: { route: d.route }, value: d.sum });
      out.push({ metricName: 'bff_http_request_duration_seconds_count', labels: { route: d.route }, value: d.count });
    }
    return out;
  }

  /** A metric as prom-client's registry reads it (name, help, type, get, reset). */
  private metric(name: string, help: string, type: 'counter' | 'histogram', values: () => Array<MetricValue<string>>) {
    const reset = () => (type === 'counter' ? this.requests.clear() : this.durations.clear());
    const get = () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() });
    // Registry.registerMetric is typed for its own classes; it reads only these members.
    return { name, help, type, aggregator: 'sum', get, reset } as unknown as Counter;
  }
}
