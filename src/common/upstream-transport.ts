import { subscribe } from 'node:diagnostics_channel';
import { PassThrough, type Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, Client, type Dispatcher } from 'undici';
import { ProblemException } from './problem';
import { readBounded } from './read-bounded';
import { UnreplayableReset, upstreamProblem } from './upstream-error';

/**
 * How the BFF talks to one upstream (MLflow, ML-Agent, the Trino Gateway, the token endpoint, the LLM
 * provider): a pool of keep-alive connections (undici's Agent), the timeouts, the one keep-alive retry
 * rule, bounded reads, and one mapping of failures to problem+json (502 unreachable or unusable, 504 too slow).
 */
export interface UpstreamOptions {
  /** The upstream's name in problems and logs, e.g. `MLflow`. */
  name: string;
  /** Longest wait for the response headers, in ms. */
  headersTimeoutMs: number;
  /** Longest silence while the response body streams, in ms (0: none; the body streams as long as it takes). */
  bodyTimeoutMs: number;
  /**
   * How long a pooled connection may sit idle before the BFF closes it (set below the upstream's own
   * keep-alive timeout, so the BFF closes first). Undici also honours a shorter `Keep-Alive: timeout` hint.
   */
  idleSocketMs?: number;
  /** Most connections per origin (default: no limit). */
  connections?: number;
  /** A CA trusted beside the system's (PEM). */
  ca?: string;
}

/** The most of a JSON answer the BFF reads from an upstream REST API by default. */
export const MAX_UPSTREAM_RESPONSE_BYTES = 4 * 1024 * 1024;

/** An upstream's answer, read whole (bounded): its status and its body text. */
export interface UpstreamAnswer {
  status: number;
  text: string;
}

/** One request, as the BFF decided it. */
export interface UpstreamRequest {
  method: string;
  /** The absolute URL (the client's base plus the path it decided on). */
  url: string;
  headers: Record<string, string | string[]>;
  /** A stream is sent as it arrives; a buffer or string is sent whole. */
  body?: Buffer | string | Readable;
  /** Cancels the request, and the response body still streaming (the client went away, a deadline). */
  signal?: AbortSignal;
}

/** An upstream's answer once its headers arrived; the body is still a stream (read it, pipe it, or dump it). */
export interface UpstreamResponse {
  status: number;
  /** Lower-case names; a repeated header is an array of its values. */
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** Codes of a connection the upstream closed under a request (an idle close racing a reuse). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/*
 * Which failed requests were on a reused connection. Undici reports, per request, the connection its
 * headers went out on (`undici:client:sendHeaders`) and its error (`undici:request:error`, before the
 * caller sees it): an error on a connection that carried an earlier request is marked here.
 */
const requestsOnSocket = new WeakMap<object, number>();
const socketOfRequest = new WeakMap<object, object>();
const failedOnReusedSocket = new WeakSet<object>();
subscribe('undici:client:sendHeaders', (message) => {
  const { request, socket } = message as { request: object; socket: object };
  socketOfRequest.set(request, socket);
  requestsOnSocket.set(socket, (requestsOnSocket.get(socket) ?? 0) + 1);
});
subscribe('undici:request:error', (message) => {
  const { request, error } = message as { request: object; error: unknown };
  const socket = socketOfRequest.get(request);
  if (socket && (requestsOnSocket.get(socket) ?? 0) > 1 && typeof error === 'object' && error !== null) failedOnReusedSocket.add(error);
});

/**
 * The keep-alive retry rule, written once: a request whose pooled connection the upstream closed as
 * idle just as the request went out on it (reset before any answer, on a reused connection) never
 * reached the upstream, so it is sent once more, on a connection of its own (not another pooled one:
 * connections released together go idle together) — when its body can be sent again: none, a buffer,
 * or a stream nothing was read from yet. Anything else (a fresh connection reset, a timeout, the
 * caller's abort) is not retried.
 */
export function isReusedConnectionReset(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted || typeof err !== 'object' || err === null) return false;
  return failedOnReusedSocket.has(err) && RESET_CODES.has((err as { code?: string }).code ?? '');
}

/** The client of one upstream: send() with the retry rule, readText() bounded, failures as problems. */
export class UpstreamTransport {
  private readonly agent: Agent;
  private readonly clientOptions: Client.Options;

  constructor(readonly options: UpstreamOptions) {
    const idle = options.idleSocketMs;
    this.clientOptions = {
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      ...(idle !== undefined ? { keepAliveTimeout: idle, keepAliveMaxTimeout: idle } : {}),
      ...(options.ca ? { connect: { ca: [...rootCertificates, options.ca] } } : {}),
    };
    this.agent = new Agent({ ...this.clientOptions, ...(options.connections ? { connections: options.connections } : {}) });
  }

  /** Closes the pooled connections (application shutdown). */
  async close(): Promise<void> {
    await this.agent.destroy();
  }

  /** The pool's counters per origin (connected, free, running...), for tests and diagnostics. */
  get stats(): Agent['stats'] {
    return this.agent.stats;
  }

  /**
   * Sends one request; resolves once the response headers arrived. Network failures reject as they are
   * (map them with problemOf()); a reused connection reset is retried by the rule above, or rejects
   * with UnreplayableReset when the streamed body already went.
   */
  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const url = new URL(req.url);
    const source = req.body;
    const streamed = source !== undefined && typeof source !== 'string' && !Buffer.isBuffer(source);
    try {
      return await this.attempt(url, req, this.agent, streamed ? this.feed(source) : source);
    } catch (err) {
      if (!isReusedConnectionReset(err, req.signal)) throw err;
      if (streamed && (source.readableDidRead || source.destroyed)) throw new UnreplayableReset(this.options.name);
      // Not pipelined, not kept alive: one connection for this one request.
      const own = new Client(url.origin, { ...this.clientOptions, pipelining: 0 });
      try {
        const res = await this.attempt(url, req, own, streamed ? this.feed(source) : source);
        res.body.once('close', () => void own.close());
        return res;
      } catch (retryErr) {
        void own.destroy();
        throw retryErr;
      }
    }
  }

  /** Reads a whole (small) answer as text, at most `maxBytes` (a 502 problem beyond). */
  async readText(res: UpstreamResponse, maxBytes: number): Promise<string> {
    return (await this.readBytes(res, maxBytes)).toString('utf8');
  }

  /** Reads a whole (small) answer, at most `maxBytes` (a 502 problem beyond; a declared length over it is refused before any read). */
  readBytes(res: UpstreamResponse, maxBytes: number): Promise<Buffer> {
    const tooLarge = () => new ProblemException(502, 'upstream_error', `${this.options.name} answered more than ${maxBytes} bytes`);
    if (Number(res.headers['content-length'] ?? '0') > maxBytes) {
      res.body.destroy();
      return Promise.reject(tooLarge());
    }
    return readBounded(res.body, maxBytes, tooLarge);
  }

  /**
   * One request to a REST API, its answer read whole (at most `maxBytes`): headers and body within
   * `headersTimeoutMs` together. Failures are the problems the client sees (502, 504); any status is
   * returned, the caller maps it. Redirects are answers here, never followed.
   */
  async fetchText(req: Omit<UpstreamRequest, 'signal'>, maxBytes = MAX_UPSTREAM_RESPONSE_BYTES): Promise<UpstreamAnswer> {
    try {
      const res = await this.send({ ...req, signal: AbortSignal.timeout(this.options.headersTimeoutMs) });
      return { status: res.status, text: await this.readText(res, maxBytes) };
    } catch (err) {
      throw this.problemOf(err);
    }
  }

  /** The problem a failed call is answered with: 504 when too slow, 502 when unreachable or unusable. */
  problemOf(err: unknown): ProblemException {
    return upstreamProblem(err, this.options.name, this.options.headersTimeoutMs);
  }

  private attempt(url: URL, req: UpstreamRequest, dispatcher: Dispatcher, body: UpstreamRequest['body']): Promise<UpstreamResponse> {
    return dispatcher
      .request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: body ?? null,
        signal: req.signal,
      })
      .then((res) => ({ status: res.statusCode, headers: res.headers, body: res.body }));
  }

  /**
   * What one attempt sends of a streamed body: a pass-through of its own, so that a failed attempt
   * (undici destroys the body it was given) leaves the caller's stream whole for the retry.
   */
  private feed(source: Readable): Readable {
    const pass = new PassThrough();
    source.pipe(pass);
    source.once('error', (err) => pass.destroy(err));
    pass.once('close', () => source.unpipe(pass));
    return pass;
  }
}
