import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { problem, type ProblemException } from '../common/problem';
import { readBounded } from '../common/read-bounded';
import { upstreamProblem } from '../common/upstream-error';
import { UpstreamTransport, type UpstreamResponse } from '../common/upstream-transport';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** Longest wait for MLflow's response headers (the body then streams for as long as it takes). */
export const MLFLOW_HEADERS_TIMEOUT_MS = 30_000;
/** The BFF's own lookups (run → experiment, experiment exists). */
const LOOKUP_TIMEOUT_MS = 10_000;
/** The BFF's own reads (lookups, and the further pages of a filtered search). */
const LOOKUP_MAX_BYTES = 32 * 1024 * 1024;
/**
 * How long a pooled keep-alive connection to MLflow may sit idle before the BFF closes it: below
 * the idle timeout of the servers MLflow runs under (gunicorn's --keep-alive defaults to 2 s,
 * uvicorn's --timeout-keep-alive to 5 s), so the BFF drops an idle connection before MLflow does.
 * 1 s is what Node's own rule (a server's `Keep-Alive: timeout` hint minus 1 s) gives for
 * gunicorn's 2 s. See the transport in the constructor.
 */
export const MLFLOW_IDLE_SOCKET_MS = 1_000;

export interface MlflowRequest {
  method: string;
  /** Path relative to MLFLOW_URL, percent-encoded, starting with `/`. */
  path: string;
  /** Raw query string without `?` (may be empty). */
  query: string;
  headers: OutgoingHttpHeaders;
  /** A stream is piped as it arrives; a buffer is sent with its length. */
  body?: Readable | Buffer;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

/**
 * The one way to MLflow (MLFLOW_URL, which may carry a path prefix such as MLflow's
 * --static-prefix): streaming requests for the proxy, and small JSON lookups the BFF makes
 * itself. Credential sent: none — MLflow runs without authentication behind the BFF.
 */
@Injectable()
export class MlflowClient implements OnApplicationShutdown {
  private readonly base?: URL;
  private readonly transport: UpstreamTransport;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.base = config.mlflow.url ? new URL(config.mlflow.url) : undefined;
    // MLflow closes a keep-alive connection after a few idle seconds. When that close crosses a
    // request the BFF writes on the connection, the request fails though MLflow never saw it. Two
    // defences, because a streamed body cannot always be sent twice:
    // - avoid the race: the pool closes a connection idle for MLFLOW_IDLE_SOCKET_MS, before MLflow would
    //   (a server's shorter `Keep-Alive: timeout` hint is honoured too). It is not a request timeout: a
    //   busy connection is never closed by it (MLFLOW_HEADERS_TIMEOUT_MS is that; the body has no limit).
    // - survive it: the transport's keep-alive retry rule sends the request once more, on a connection of
    //   its own, when its body can be sent again; otherwise the client gets a 502 saying so.
    this.transport = new UpstreamTransport({
      name: 'MLflow',
      headersTimeoutMs: MLFLOW_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: 0,
      idleSocketMs: MLFLOW_IDLE_SOCKET_MS,
    });
  }

  get configured(): boolean {
    return this.base !== undefined;
  }

  /** MLflow's base URL (for readiness checks). */
  get url(): string | undefined {
    return this.base?.toString();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
  }

  /** The problem a failed send() is answered with (502, 504). */
  problemOf(err: unknown): ProblemException {
    return this.transport.problemOf(err);
  }

  /** Sends one request; resolves with MLflow's response once its headers arrived (the body is still a stream). */
  send(req: MlflowRequest): Promise<UpstreamResponse> {
    const base = this.base;
    if (!base) return Promise.reject(problem.unavailable('upstream_unavailable', 'MLflow is not configured (MLFLOW_URL)'));
    const prefix = base.pathname.replace(/\/+$/, '');
    const headers: Record<string, string | string[]> = { host: base.host };
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && name !== 'host') headers[name] = typeof value === 'number' ? String(value) : value;
    }
    const url = `${base.origin}${prefix}${req.path}${req.query ? `?${req.query}` : ''}`;
    return this.transport.send({ method: req.method, url, headers, body: req.body, signal: req.signal });
  }

  /** A GET of MLflow's REST API by the BFF itself: status and parsed JSON body (problems for network failures). */
  getJson(endpoint: string, params: Record<string, string>): Promise<{ status: number; body: unknown }> {
    return this.requestJson('GET', `/api/2.0/mlflow/${endpoint}`, new URLSearchParams(params).toString());
  }

  /** A JSON call of MLflow's REST API by the BFF itself (a lookup, the next page of a search): status and parsed body. */
  async requestJson(method: string, path: string, query: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const signal = AbortSignal.timeout(LOOKUP_TIMEOUT_MS);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    try {
      const res = await this.send({
        method,
        path,
        query,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
        body: payload,
        signal,
      });
      const text = await this.transport.readText(res, LOOKUP_MAX_BYTES);
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    } catch (err) {
      throw upstreamProblem(err, 'MLflow', signal.aborted ? LOOKUP_TIMEOUT_MS : MLFLOW_HEADERS_TIMEOUT_MS);
    }
  }

  /** The experiment a run belongs to; undefined when MLflow does not know the run. */
  async experimentOfRun(runId: string): Promise<string | undefined> {
    const { status, body } = await this.getJson('runs/get', { run_id: runId });
    if (status === 404 || status === 400) return undefined;
    const id = (body as { run?: { info?: { experiment_id?: unknown } } })?.run?.info?.experiment_id;
    if (status !== 200 || typeof id !== 'string') throw problem.badGateway(`MLflow answered ${status} to runs/get`);
    return id;
  }

  /** The experiment of a logged model (MLflow 3), or undefined when MLflow does not know it (deleted ones included). */
  async experimentOfModel(modelId: string): Promise<string | undefined> {
    const { status, body } = await this.getJson(`logged-models/${encodeURIComponent(modelId)}`, { allow_deleted: 'true' });
    if (status === 404 || status === 400) return undefined;
    const id = (body as { model?: { info?: { experiment_id?: unknown } } })?.model?.info?.experiment_id;
    if (status !== 200 || typeof id !== 'string') throw problem.badGateway(`MLflow answered ${status} to logged-models/get`);
    return id;
  }

  /** The experiment of a trace (MLflow 3), or undefined when MLflow does not know it. */
  async experimentOfTrace(traceId: string): Promise<string | undefined> {
    const { status, body } = await this.requestJson('GET', `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}`, '');
    if (status === 404 || status === 400) return undefined;
    const info = (body as { trace?: { trace_info?: { trace_location?: { mlflow_experiment?: { experiment_id?: unknown } } } } })?.trace?.trace_info;
    const id = info?.trace_location?.mlflow_experiment?.experiment_id;
    if (status !== 200 || typeof id !== 'string') throw problem.badGateway(`MLflow answered ${status} to traces/get-info`);
    return id;
  }

  /** The experiments an evaluation dataset (MLflow 3) is linked to: none when MLflow does not know it. */
  async experimentsOfDataset(datasetId: string): Promise<string[]> {
    const { status, body } = await this.requestJson('GET', `/api/3.0/mlflow/datasets/${encodeURIComponent(datasetId)}/experiment-ids`, '');
    if (status === 404 || status === 400) return [];
    const ids = (body as { experiment_ids?: unknown })?.experiment_ids ?? [];
    if (status !== 200 || !Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
      throw problem.badGateway(`MLflow answered ${status} to datasets/experiment-ids`);
    }
    return ids as string[];
  }

  /** Whether a registered model (or prompt) of that name exists. */
  async registeredModelExists(name: string): Promise<boolean> {
    const { status } = await this.getJson('registered-models/get', { name });
    if (status === 200) return true;
    if (status === 404 || status === 400) return false;
    throw problem.badGateway(`MLflow answered ${status} to registered-models/get`);
  }

  /** Whether the experiment exists (active or deleted). */
  async experimentExists(experimentId: string): Promise<boolean> {
    const { status } = await this.getJson('experiments/get', { experiment_id: experimentId });
    if (status === 200) return true;
    if (status === 404 || status === 400) return false;
    throw problem.badGateway(`MLflow answered ${status} to experiments/get`);
  }
}

/** Reads a whole body, refusing more than `limit` bytes (PayloadTooLarge: the caller says what that means to its client). */
export function readAll(stream: Readable, limit: number): Promise<Buffer> {
  return readBounded(stream, limit, () => new PayloadTooLarge(limit));
}

export class PayloadTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'PayloadTooLarge';
  }
}
