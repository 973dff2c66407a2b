import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import type { AuthContext } from '../auth/auth-context';
import { MetricsService } from '../common/metrics.service';
import { problem } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { streamThrough } from './page-writes';
import { QUERY_ID, QueryOwnership } from './query-ownership';
import { followQueryString, statementTarget, type StatementStage } from './statement-paths';
import { claimedIdentities, forwardedRequestHeaders, returnedResponseHeaders, trinoCallerFor } from './trino-headers';
import { ClientGoneError, TrinoClient, type TrinoAnswer, type TrinoCaller } from './trino.client';
import { MAX_QUERY_INFO_BYTES, scrubQueryInfo } from './query-info';
import { JsonUriRewriter, QUERY_RESULTS_URI_FIELDS, rebaseUri } from './uri-rewriter';

/** What the BFF answers a protocol request with; the body is streamed when it is a stream. */
export interface ProxiedAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body?: Readable | string;
}

/** One protocol request as the controller hands it over. */
export interface ProtocolRequest {
  auth: AuthContext;
  headers: IncomingHttpHeaders;
  /** Base URL the client reaches the BFF at (PUBLIC_URL or the forwarded host). */
  publicBase: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** The POST /v1/statement answer is a QUEUED QueryResults (no data): it is read whole, up to this. */
const SUBMIT_ANSWER_LIMIT = 1024 * 1024;

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * The Trino client protocol through the BFF: the caller's identity replaces whatever identity headers
 * the client sent, every other protocol header passes both ways, submitted queries are bound to their
 * owner before the client learns their nextUri, and coordinator URIs are re-based onto the BFF while
 * pages stream through (never held whole).
 */
@Injectable()
export class TrinoProtocolService {
  private readonly log = new Logger('TrinoProtocol');
  private readonly impersonationAttempts: Counter<'header'>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly client: TrinoClient,
    private readonly ownership: QueryOwnership,
    metrics: MetricsService,
  ) {
    this.impersonationAttempts = metrics.counter(
      'bff_trino_impersonation_attempts_total',
      'Trino requests whose client-sent X-Trino-User / X-Trino-Original-User differed from the user of the token (the value was replaced)',
      ['header'],
    );
  }

  private callerFor(auth: AuthContext): TrinoCaller {
    return trinoCallerFor(auth, this.config.trino.userClaim);
  }

  /** POST /v1/statement. */
  async submit(req: ProtocolRequest, sql: unknown): Promise<ProxiedAnswer> {
    if (typeof sql !== 'string' || sql.length === 0) {
      throw problem.badRequest('SQL statement is empty', [{ field: 'body', message: 'the body must be the SQL statement, as text' }]);
    }
    const caller = this.callerFor(req.auth);
    this.noteClaimedIdentity(req.headers, caller, 'POST /v1/statement');
    const answer = await this.client.send({
      method: 'POST',
      path: '/v1/statement',
      headers: forwardedRequestHeaders(req.headers),
      body: sql,
      caller,
      signal: req.signal,
    });
    if (answer.status !== 200) return this.relay(answer, req.publicBase);

    const raw = await this.client.readBody(answer, SUBMIT_ANSWER_LIMIT);
    const results = parseObject(raw);
    const id = results?.id;
    if (!results || typeof id !== 'string' || !QUERY_ID.test(id)) throw problem.badGateway('the Trino coordinator answered a malformed QueryResults');
    // Bound before the client can learn the nextUri: its first follow-up already finds the owner.
    await this.ownership.bind(id, req.auth.principal, caller.user);
    if (req.signal.aborted) {
      this.abandon(results.nextUri, caller);
      throw new ClientGoneError();
    }
    for (const field of QUERY_RESULTS_URI_FIELDS) {
      const uri = results[field];
      if (typeof uri === 'string') results[field] = rebaseUri(uri, req.publicBase);
    }
    this.log.log({ event: 'trino.query_submitted', queryId: id, user: caller.user, sub: req.auth.principal.subject });
    return {
      status: 200,
      headers: { ...returnedResponseHeaders(answer.headers), 'content-type': 'application/json' },
      body: JSON.stringify(results),
    };
  }

  /** GET (next page) or DELETE (cancel) on /v1/statement/{queued,executing}/…; only the owner's. */
  async follow(req: ProtocolRequest, stage: StatementStage, rest: string, method: 'GET' | 'DELETE', query: unknown): Promise<ProxiedAnswer> {
    const target = statementTarget(stage, rest);
    if (!target || (target.partialCancel && method !== 'DELETE')) throw problem.notFound('No such query');
    await this.ownership.assertOwner(target.queryId, req.auth.principal);
    const caller = this.callerFor(req.auth);
    const answer = await this.client.send({
      method,
      path: target.path + (method === 'GET' ? followQueryString(query) : ''),
      headers: forwardedRequestHeaders(req.headers),
      caller,
      signal: req.signal,
    });
    return this.relay(answer, req.publicBase, method === 'GET' ? QUERY_RESULTS_URI_FIELDS : undefined);
  }

  /** GET /v1/query/{queryId}; only the owner's. */
  async queryInfo(req: ProtocolRequest, queryId: string): Promise<ProxiedAnswer> {
    await this.ownership.assertOwner(queryId, req.auth.principal);
    const caller = this.callerFor(req.auth);
    this.noteClaimedIdentity(req.headers, caller, 'GET /v1/query');
    const answer = await this.client.send({
      method: 'GET',
      path: `/v1/query/${queryId}`,
      headers: forwardedRequestHeaders(req.headers),
      caller,
      signal: req.signal,
    });
    if (answer.status !== 200 || !JSON_TYPE.test(String(answer.headers['content-type'] ?? ''))) return this.relay(answer, req.publicBase);
    const text = (await this.client.readBody(answer, MAX_QUERY_INFO_BYTES)).toString('utf8');
    const headers = returnedResponseHeaders(answer.headers);
    try {
      return { status: 200, headers, body: scrubQueryInfo(text, req.publicBase) };
    } catch {
      throw problem.badGateway('the Trino coordinator answered a query info that is not JSON');
    }
  }

  /** DELETE /v1/query/{queryId} (how trino-client cancels); only the owner's. */
  async cancelQuery(req: ProtocolRequest, queryId: string): Promise<ProxiedAnswer> {
    await this.ownership.assertOwner(queryId, req.auth.principal);
    const caller = this.callerFor(req.auth);
    this.noteClaimedIdentity(req.headers, caller, 'DELETE /v1/query');
    const answer = await this.client.send({
      method: 'DELETE',
      path: `/v1/query/${queryId}`,
      headers: forwardedRequestHeaders(req.headers),
      caller,
      signal: req.signal,
    });
    return this.relay(answer, req.publicBase);
  }

  /** GET /v1/info: public in Trino, public here. */
  async serverInfo(signal: AbortSignal): Promise<ProxiedAnswer> {
    const answer = await this.client.send({ method: 'GET', path: '/v1/info', signal });
    return this.relay(answer, '');
  }

  /**
   * The client's answer from the coordinator's: 200 JSON streamed (URIs re-based on the way), other
   * 2xx-4xx as the coordinator sent them (Trino's own texts: `Query not found`, 410...). A 401 means
   * the coordinator refused the BFF's own credential and a 5xx a broken coordinator: both 502.
   */
  private relay(answer: TrinoAnswer, publicBase: string, uriFields?: ReadonlySet<string>): ProxiedAnswer {
    const { status } = answer;
    if (status === 401 || status === 407) {
      this.client.discard(answer);
      this.log.error(
        { event: 'trino.upstream_auth_refused', status, mode: this.config.trino.auth },
        'the Trino coordinator refused the BFF credentials (check TRINO_AUTH)',
      );
      throw problem.badGateway('the Trino coordinator refused the credentials of the BFF');
    }
    if (status >= 500) {
      this.client.discard(answer);
      throw problem.badGateway(`the Trino coordinator answered ${status}`);
    }
    const headers = returnedResponseHeaders(answer.headers);
    if (status === 204 || status === 304) {
      this.client.discard(answer);
      return { status, headers };
    }
    const contentType = answer.headers['content-type'];
    if (status === 200 && uriFields && typeof contentType === 'string' && JSON_TYPE.test(contentType)) {
      const rewriter = new JsonUriRewriter(uriFields, (uri) => rebaseUri(uri, publicBase));
      // Chunks pass as they arrive (sub-slices of the socket's own buffers, no copies). If either side
      // fails or the client goes away, both are destroyed: the upstream request ends with it.
      return { status, headers, body: streamThrough(answer.body, rewriter) };
    }
    return { status, headers, body: answer.body };
  }

  /** Counts and logs identity headers the client sent that differ from the token's user (they are replaced regardless). */
  private noteClaimedIdentity(headers: IncomingHttpHeaders, caller: TrinoCaller, route: string): void {
    for (const { header, value } of claimedIdentities(headers, caller.user)) {
      this.impersonationAttempts.inc({ header });
      this.log.warn(
        {
          event: 'trino.impersonation_attempt',
          header,
          claimed: value.slice(0, 128),
          user: caller.user,
          sub: caller.auth.principal.subject,
          iss: caller.auth.principal.issuer,
          route,
        },
        `client-sent ${header} differs from the token's user; replaced`,
      );
    }
  }

  /** Cancels a query nobody will follow (its client went away right after submitting). Best effort. */
  private abandon(nextUri: unknown, caller: TrinoCaller): void {
    const path = typeof nextUri === 'string' ? rebaseUri(nextUri, '') : undefined;
    if (!path || !path.startsWith('/v1/statement/')) return;
    this.client
      .send({ method: 'DELETE', path, caller })
      .then((a) => this.client.discard(a))
      .catch(() => undefined);
  }
}

/** A JSON object from an answer body, or undefined when it is not one. */
export function parseObject(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
