import * as http from 'node:http';
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { TokenExchangeService } from '../token-exchange/token-exchange.service';
import { TRINO_USER } from './trino-headers';

/** Who a call to the coordinator is made for. */
export interface TrinoCaller {
  /** The Trino user (X-Trino-User), from TRINO_USER_CLAIM. */
  user: string;
  /** The verified caller. Its token is read only for TRINO_AUTH=exchange, and only by the token exchange. */
  auth: AuthContext;
}

export interface TrinoCall {
  method: 'GET' | 'POST' | 'DELETE';
  /** Protocol path and query below TRINO_URL, e.g. `/v1/statement/executing/<id>/<slug>/3?maxWait=1s`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Sets X-Trino-User and, by TRINO_AUTH, the upstream credential. Absent for public endpoints. */
  caller?: TrinoCaller;
  /**
   * Instead of a caller: a call the BFF makes for a query's owner without a request of theirs (cancelling the
   * queries of a logged-out session): X-Trino-User `user`, and with TRINO_AUTH=exchange their exchanged token.
   */
  owner?: { user: string; exchangedToken?: string };
  /** Aborts the call, and the response body still streaming, e.g. when the client went away. */
  signal?: AbortSignal;
}

export interface TrinoAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The same headers, each with every value it had on the wire (Node joins repeated ones with commas in `headers`). */
  headersDistinct?: Record<string, string[]>;
  /** The response body, not read yet: stream it, or read it with readBody(). */
  body: Readable;
}

/** The call was abandoned because the client that wanted it went away: there is no one to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client went away');
    this.name = 'ClientGoneError';
  }
}

class CoordinatorTimeout extends Error {
  constructor(ms: number) {
    super(`the Trino coordinator did not answer within ${ms} ms`);
    this.name = 'CoordinatorTimeout';
  }
}

/**
 * The one client of the Trino coordinator (TRINO_URL). Every call goes to TRINO_URL, whatever host a
 * coordinator URI names. It adds the identity (X-Trino-User) and the upstream credential by TRINO_AUTH:
 * `none` nothing, `basic` the service account of TRINO_BASIC_AUTH (the coordinator lets it impersonate
 * users), `exchange` the caller's token exchanged for TRINO_AUDIENCE. Answers are streamed, never
 * buffered here; an unreachable coordinator is a 502 and one slower than TRINO_TIMEOUT_MS (to the
 * response headers, or idle while the body streams) a 504.
 */
@Injectable()
export class TrinoClient implements OnApplicationShutdown {
  private readonly base?: URL;
  private readonly agent: http.Agent;
  private readonly tls: { ca?: string[] };
  private readonly basicAuthorization?: string;
  private readonly timeoutMs: number;
  private parsedOrigin?: { protocol: string; hostname: string; port: string; path: string };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly tokenExchange?: TokenExchangeService,
  ) {
    const { url, auth, basicAuth, timeoutMs } = config.trino;
    this.timeoutMs = timeoutMs;
    this.base = url ? new URL(url) : undefined;
    const pool = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' } as const;
    // TRINO_CA_FILE: the coordinator's CA, trusted beside the system's.
    this.tls = config.trino.ca ? { ca: [...rootCertificates, config.trino.ca] } : {};
    this.agent = this.base?.protocol === 'https:' ? new https.Agent({ ...pool, ...this.tls }) : new http.Agent(pool);
    if (auth === 'basic' && basicAuth) this.basicAuthorization = `Basic ${Buffer.from(basicAuth, 'utf8').toString('base64')}`;
    if (auth === 'exchange' && !tokenExchange) {
      throw new Error('TRINO_AUTH=exchange needs the token-exchange module (TokenExchangeService) to be loaded');
    }
  }

  /** Whether TRINO_URL is set. */
  get configured(): boolean {
    return this.base !== undefined;
  }

  /** TRINO_URL/v1/info, for readiness probes. */
  get infoUrl(): string | undefined {
    return this.base ? this.url('/v1/info') : undefined;
  }

  onApplicationShutdown(): void {
    this.agent.destroy();
  }

  async send(call: TrinoCall): Promise<TrinoAnswer> {
    if (!this.base) throw problem.unavailable('upstream_unavailable', 'Trino is not configured (TRINO_URL is not set)');
    if (call.signal?.aborted) throw new ClientGoneError();
    const credentials = this.credentials(call.caller, call.owner?.exchangedToken);
    const headers: Record<string, string> = { ...call.headers, ...(credentials instanceof Promise ? await credentials : credentials) };
    const user = call.caller?.user ?? call.owner?.user;
    if (user !== undefined) headers[TRINO_USER] = user;
    let body: Buffer | undefined;
    if (call.body !== undefined) {
      body = Buffer.from(call.body, 'utf8');
      headers['content-type'] = 'text/plain; charset=utf-8';
      headers['content-length'] = String(body.length);
    }
    if (call.signal?.aborted) throw new ClientGoneError();
    return this.request(call.method, this.origin.path + call.path, headers, body, call.signal);
  }

  /**
   * Reads a (small) answer body, at most `limit` bytes: POST answers, error texts, single pages the
   * BFF itself parses. A larger body is a 502, never buffered further.
   */
  readBody(answer: TrinoAnswer, limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const body = answer.body;
      body.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          body.destroy();
          reject(problem.badGateway(`the Trino coordinator answered more than ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      body.once('end', () => resolve(Buffer.concat(chunks)));
      body.once('error', (err) => reject(this.toProblem(failureOf(answer) ?? err)));
    });
  }

  /** Drops an answer's body (its connection goes back to the pool once drained). */
  discard(answer: TrinoAnswer): void {
    answer.body.on('error', () => undefined);
    answer.body.resume();
  }

  private url(path: string): string {
    const base = this.base as URL;
    return `${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`;
  }

  /** TRINO_URL as node:http request options, parsed once (not a URL string to parse at every page). */
  private get origin(): { protocol: string; hostname: string; port: string; path: string } {
    if (this.parsedOrigin) return this.parsedOrigin;
    const { protocol, hostname, port, pathname } = this.base as URL;
    this.parsedOrigin = { protocol, hostname: hostname.replace(/^\[(.*)\]$/, '$1'), port, path: pathname.replace(/\/+$/, '') };
    return this.parsedOrigin;
  }

  /** The upstream credential by TRINO_AUTH; a promise only when a token is to be exchanged (no promise hop per page otherwise). */
  private credentials(caller: TrinoCaller | undefined, exchangedToken?: string): Record<string, string> | Promise<Record<string, string>> {
    switch (this.config.trino.auth) {
      case 'basic':
        return this.basicAuthorization ? { authorization: this.basicAuthorization } : {};
      case 'exchange': {
        if (!caller && exchangedToken !== undefined) return { authorization: `Bearer ${exchangedToken}` };
        if (!caller || !this.tokenExchange) return {};
        const { token: subjectToken, principal } = caller.auth;
        return this.tokenExchange.exchangeFor(this.config.trino.audience, subjectToken, principal).then((token) => ({ authorization: `Bearer ${token}` }));
      }
      default:
        return {};
    }
  }

  private request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
    retry = false,
  ): Promise<TrinoAnswer> {
    return new Promise((resolve, reject) => {
      const { protocol, hostname, port } = this.origin;
      const lib = protocol === 'https:' ? https : http;
      // A retry goes on a connection of its own: pooled ones released together go idle together.
      const req = lib.request({ protocol, hostname, port, path, method, headers, agent: retry ? false : this.agent, ...(lib === https ? this.tls : {}) });
      let answered = false;
      let failure: Error | undefined;
      const fail = (err: Error): void => {
        failure ??= err;
        req.destroy(err);
      };
      const onAbort = (): void => fail(new ClientGoneError());
      const cleanup = (): void => {
        clearTimeout(headersDeadline);
        signal?.removeEventListener('abort', onAbort);
      };
      // Absolute limit to the response headers; idle limit while the body streams.
      const headersDeadline = setTimeout(() => fail(new CoordinatorTimeout(this.timeoutMs)), this.timeoutMs);
      req.setTimeout(this.timeoutMs, () => fail(new CoordinatorTimeout(this.timeoutMs)));
      signal?.addEventListener('abort', onAbort, { once: true });

      req.once('response', (res) => {
        answered = true;
        clearTimeout(headersDeadline);
        res.once('close', cleanup);
        // Errors reach whoever consumes the body (pipeline, readBody); none may go unhandled.
        res.on('error', () => undefined);
        const answer: TrinoAnswer = {
          status: res.statusCode ?? 502,
          headers: res.headers,
          // Node builds it from the raw headers at each read: only when a caller asks.
          get headersDistinct() {
            return res.headersDistinct as Record<string, string[]>;
          },
          body: res,
        };
        FAILURES.set(answer, () => failure);
        resolve(answer);
      });
      req.on('error', (err) => {
        if (answered) return;
        cleanup();
        // A pooled keep-alive connection the coordinator closed as idle just as this request was
        // written to it: the request never reached Trino, so it is sent once more.
        const code = (err as NodeJS.ErrnoException).code;
        if (!failure && !retry && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
          this.request(method, path, headers, body, signal, true).then(resolve, reject);
          return;
        }
        reject(this.toProblem(failure ?? err));
      });
      req.end(body);
    });
  }

  /** The problem a failed call is answered with (ClientGoneError is kept: nobody is waiting for an answer). */
  toProblem(err: unknown): ProblemException | ClientGoneError {
    if (err instanceof ProblemException || err instanceof ClientGoneError) return err;
    if (err instanceof CoordinatorTimeout) return problem.gatewayTimeout(err.message);
    return problem.badGateway('the Trino coordinator is unreachable');
  }
}

const FAILURES = new WeakMap<TrinoAnswer, () => Error | undefined>();

/** Why an answer's stream was cut by the BFF (timeout, client gone), if it was. */
export function failureOf(answer: TrinoAnswer): Error | undefined {
  return FAILURES.get(answer)?.();
}
