import { Counter, Histogram, Registry } from 'prom-client';
import { RequestMetrics } from './metrics.service';

describe('RequestMetrics', () => {
  it('exposes exactly what prom-client’s Counter and Histogram would for the same requests', async () => {
    const ours = new Registry();
    const metrics = new RequestMetrics(ours);
    const theirs = new Registry();
    const counter = new Counter({
      name: 'bff_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [theirs],
    });
    const histogram = new Histogram({
      name: 'bff_http_request_duration_seconds',
      help: 'HTTP request duration by route pattern',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [theirs],
    });
    const requests: Array<[string, string, number, number]> = [
      ['/auth/me', 'GET', 200, 0.0004],
      ['/auth/me', 'GET', 200, 0.001],
      ['/auth/me', 'GET', 401, 0.003],
      ['/v1/statement', 'POST', 200, 0.3],
      ['unmatched', 'GET', 404, 12],
      ['/auth/me', 'GET', 200, 0.0101],
    ];
    for (const [route, method, status, s] of requests) {
      metrics.record(route, method, status, s);
      counter.inc({ route, method, status });
      histogram.observe({ route }, s);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('route=');
  });
});
