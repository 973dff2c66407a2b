import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context';
import { problem, ProblemException } from '../common/problem';
import { upstreamProblem } from '../common/upstream-error';
import { UpstreamTransport } from '../common/upstream-transport';
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
  /** Lower-case names; a header the coordinator repeated (one X-Trino-Set-Session per property) is an array of its values. */
  headers: Record<string, string | string[] | undefined>;
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

/** The coordinator's name in problems: `the Trino coordinator is unreachable`, `... did not answer within N ms`. */
const COORDINATOR = 'the Trino coordinator';

/**
 * The one client of the Trino coordinator (TRINO_URL). Every call goes to TRINO_URL, whatever host a
 * coordinator URI names. It adds the identity (X-Trino-User) and the upstream credential by TRINO_AUTH:
 * `none` nothing, `basic` the service account of TRINO_BASIC_AUTH (the coordinator lets it impersonate
 * users), `exchange` the caller's token exchanged for TRINO_AUDIENCE. Calls go through the BFF's one
 * upstream transport (its keep-alive pool and retry rule); answers are streamed, never buffered here; an
 * unreachable coordinator is a 502 and one slower than TRINO_TIMEOUT_MS (to the response headers, or idle
 * while the body streams) a 504.
 */
@Injectable()
export class TrinoClient implements OnApplicationShutdown {
  private readonly base?: URL;
  /** TRINO_URL's origin and path, without a trailing slash: a protocol path is appended as it is. */
  private readonly prefix: string = '';
  private readonly transport: UpstreamTransport;
  private readonly basicAuthorization?: string;
  private readonly timeoutMs: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly tokenExchange?: TokenExchangeService,
  ) {
    const { url, auth, basicAuth, timeoutMs } = config.trino;
    this.timeoutMs = timeoutMs;
    this.base = url ? new URL(url) : undefined;
    if (this.base) this.prefix = `${this.base.origin}${this.base.pathname.replace(/\/+$/, '')}`;
    // The transport's headers timeout is a coarse one (undici checks it every half second); the exact
    // TRINO_TIMEOUT_MS to the headers is this client's own timer (request()). The idle limit while a page
    // streams is the transport's body timeout. TRINO_CA_FILE: the coordinator's CA, trusted beside the system's.
    this.transport = new UpstreamTransport({
      name: COORDINATOR,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
      connections: 256,
      ...(config.trino.ca ? { ca: config.trino.ca } : {}),
    });
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
    return this.base ? `${this.prefix}/v1/info` : undefined;
  }

  onApplicationShutdown(): Promise<void> {
    return this.transport.close();
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
    }
    if (call.signal?.aborted) throw new ClientGoneError();
    return this.request(call.method, this.prefix + call.path, headers, body, call.signal);
  }

  /**
   * Reads a (small) answer body, at most `limit` bytes: POST answers, error texts, single pages the
   * BFF itself parses. A larger body is a 502, never buffered further.
   */
  async readBody(answer: TrinoAnswer, limit: number): Promise<Buffer> {
    try {
      return await this.transport.readBytes(answer, limit);
    } catch (err) {
      throw this.toProblem(err);
    }
  }

  /** Drops an answer's body (its connection goes back to the pool once drained). */
  discard(answer: TrinoAnswer): void {
    answer.body.on('error', () => undefined);
    answer.body.resume();
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

  /**
   * One call through the transport, cut (with the reason as the body's error if it already streams) when
   * the client goes away or when the headers take longer than TRINO_TIMEOUT_MS.
   */
  private async request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TrinoAnswer> {
    const cut = new AbortController();
    const onGone = (): void => cut.abort(new ClientGoneError());
    signal?.addEventListener('abort', onGone, { once: true });
    const headersDeadline = setTimeout(() => cut.abort(new CoordinatorTimeout(this.timeoutMs)), this.timeoutMs);
    try {
      const answer = await this.transport.send({ method, url, headers, body, signal: cut.signal });
      clearTimeout(headersDeadline);
      if (signal) answer.body.once('close', () => signal.removeEventListener('abort', onGone));
      // Errors reach whoever consumes the body (a pipe, readBody); none may go unhandled.
      answer.body.on('error', () => undefined);
      return answer;
    } catch (err) {
      clearTimeout(headersDeadline);
      signal?.removeEventListener('abort', onGone);
      throw this.toProblem(cut.signal.aborted ? cut.signal.reason : err);
    }
  }

  /** The problem a failed call is answered with (ClientGoneError is kept: nobody is waiting for an answer). */
  toProblem(err: unknown): ProblemException | ClientGoneError {
    if (err instanceof ClientGoneError) return err;
    if (err instanceof CoordinatorTimeout) return problem.gatewayTimeout(err.message);
    return upstreamProblem(err, COORDINATOR, this.timeoutMs);
  }
}
