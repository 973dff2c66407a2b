import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { problem } from '../common/problem';
import { upstreamProblem } from '../common/upstream-error';
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
 * gunicorn's 2 s. See the agent in the constructor.
 */
export const MLFLOW_IDLE_SOCKET_MS = 1_000;
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

export interface MlflowRequest {
  method: string;
  /** Path relative to MLFLOW_URL, percent-encoded, starting with `/`. */
  path: string;
  /** Raw query string without `?` (may be empty). */
  query: string;
  headers: http.OutgoingHttpHeaders;
  /** A stream is piped as it arrives; a buffer is sent with its length. */
  body?: Readable | Buffer;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

class HeadersTimeout extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * The one way to MLflow (MLFLOW_URL, which may carry a path prefix such as MLflow's
 * --static-prefix): streaming requests for the proxy, and small JSON lookups the BFF makes
 * itself. MLflow runs without authentication behind the BFF, so no credential is ever sent.
 */
@Injectable()
export class MlflowClient implements OnApplicationShutdown {
  private readonly base?: URL;
  private readonly agent: http.Agent;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.base = config.mlflow.url ? new URL(config.mlflow.url) : undefined;
    // MLflow closes a keep-alive connection after a few idle seconds. When that close crosses a
    // request the BFF writes on the connection, the request fails (ECONNRESET/EPIPE on a reused
    // socket) though MLflow never saw it. Two defences, because a streamed body cannot always be sent twice:
    // - avoid the race: `timeout` closes a connection idle in the pool for MLFLOW_IDLE_SOCKET_MS, before
    //   MLflow would. (Node's agent also honours a server's `Keep-Alive: timeout=N` hint, but only to
    //   shorten a `timeout` set here, and MLflow's servers send none.) It is not a request timeout: on a
    //   socket in use it only emits 'timeout' events, which nothing here acts on (MLFLOW_HEADERS_TIMEOUT_MS is that).
    // - survive it: send() sends a request once more, on a connection of its own, when its body can be
    //   sent again (none, a buffer, or a stream not read yet); otherwise the client gets a 502 saying so.
    const options: http.AgentOptions = { keepAlive: true, timeout: MLFLOW_IDLE_SOCKET_MS };
    this.agent = this.base?.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  }

  get configured(): boolean {
    return this.base !== undefined;
  }

  /** MLflow's base URL (for readiness checks). */
  get url(): string | undefined {
    return this.base?.toString();
  }

  onApplicationShutdown(): void {
    this.agent.destroy();
  }

  /** Sends one request; resolves with MLflow's response once its headers arrived (the body is still a stream). */
  send(req: MlflowRequest): Promise<http.IncomingMessage> {
    const base = this.base;
    if (!base) return Promise.reject(problem.unavailable('upstream_unavailable', 'MLflow is not configured (MLFLOW_URL)'));
    const prefix = base.pathname.replace(/\/+$/, '');
    const options: http.RequestOptions = {
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port || undefined,
      method: req.method,
      path: `${prefix}${req.path}${req.query ? `?${req.query}` : ''}`,
      headers: { ...req.headers, host: base.host },
      agent: this.agent,
    };
    const lib = base.protocol === 'https:' ? https : http;
    const body = req.body;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      let current: http.ClientRequest;
      // The BFF's own reason to stop (timeout, client gone, the client's body failing): never retried.
      let failure: Error | undefined;
      const fail = (err: Error): void => {
        failure ??= err;
        current.destroy(err);
      };
      const timer = setTimeout(() => fail(new HeadersTimeout('MLflow did not answer in time')), MLFLOW_HEADERS_TIMEOUT_MS);
      const abort = () => fail(Object.assign(new Error('client gone'), { name: 'AbortError' }));
      const settle = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', abort);
      };
      req.signal?.addEventListener('abort', abort, { once: true });
      if (body !== undefined && !Buffer.isBuffer(body)) body.on('error', fail);

      const attempt = (fresh: boolean): void => {
        // A retry goes on a connection of its own (not another pooled one: connections released together go idle together).
        const outgoing = lib.request({ ...options, agent: fresh ? false : this.agent });
        current = outgoing;
        let answered = false;
        outgoing.on('response', (res) => {
          answered = true;
          clearTimeout(timer);
          res.once('close', () => req.signal?.removeEventListener('abort', abort));
          resolve(res);
        });
        outgoing.on('error', (err) => {
          if (outgoing !== current || answered) return;
          const reset = !failure && outgoing.reusedSocket && RESET_CODES.has((err as NodeJS.ErrnoException).code ?? '');
          if (reset && !fresh && replayable(body)) {
            // A pooled connection MLflow closed as idle just as this request was written to it: MLflow
            // never saw the request, whose body is all here still, so it is sent once more.
            if (body !== undefined && !Buffer.isBuffer(body)) body.unpipe(outgoing);
            attempt(true);
            return;
          }
          settle();
          if (reset) {
            reject(
              problem.badGateway(
                'MLflow closed the reused connection before answering; the request body was streamed, so it cannot be sent again and may not have reached MLflow: retry the request',
              ),
            );
            return;
          }
          reject(failure ?? err);
        });
        if (body === undefined) outgoing.end();
        else if (Buffer.isBuffer(body)) outgoing.end(body);
        else body.pipe(outgoing);
      };
      attempt(false);
    });
  }

  /** A GET of MLflow's REST API by the BFF itself: status and parsed JSON body (problems for network failures). */
  getJson(endpoint: string, params: Record<string, string>): Promise<{ status: number; body: unknown }> {
    return this.requestJson('GET', `/api/2.0/mlflow/${endpoint}`, new URLSearchParams(params).toString());
  }

  /** A JSON call of MLflow's REST API by the BFF itself (a lookup, the next page of a search): status and parsed body. */
  async requestJson(method: string, path: string, query: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    let res: http.IncomingMessage;
    const signal = AbortSignal.timeout(LOOKUP_TIMEOUT_MS);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    try {
      res = await this.send({
        method,
        path,
        query,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
        body: payload,
        signal,
      });
      const text = (await readAll(res, LOOKUP_MAX_BYTES)).toString('utf8');
      return { status: res.statusCode ?? 502, body: text ? JSON.parse(text) : {} };
    } catch (err) {
      throw upstreamProblem(signal.aborted ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : err, 'MLflow');
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

/** Whether a request body can be sent again: none, a buffer, or a stream nothing has been read from yet. */
function replayable(body: Readable | Buffer | undefined): boolean {
  return body === undefined || Buffer.isBuffer(body) || !body.readableDidRead;
}

/** Reads a whole body, refusing more than `limit` bytes (502: an upstream answer the BFF will not hold). */
export function readAll(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        stream.destroy();
        reject(new PayloadTooLarge(limit));
      } else chunks.push(c);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.on('close', () => {
      if (!stream.readableEnded) reject(new Error('stream closed before its end'));
    });
  });
}

export class PayloadTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'PayloadTooLarge';
  }
}
