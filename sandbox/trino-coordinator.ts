/**
 * Emulator of a Trino coordinator speaking the Trino client REST protocol (Trino 475 shapes).
 *
 * Faithful points (checked against trinodb/trino's io.trino.server.protocol sources and the Trino client REST protocol docs):
 * - POST /v1/statement answers QUEUED with an absolute nextUri `/v1/statement/queued/{id}/{slug}/1`; the first
 *   queued poll dispatches the query and redirects to `/v1/statement/executing/{id}/{slug}/0`. Slugs are
 *   HMAC-SHA1(per-query key, context ordinal, token) prefixed with `y`, exactly like io.trino.server.protocol.Slug.
 * - Token rules: queued stage accepts the last or last+1 token (else 410); executing stage re-serves the last
 *   token, gives 410 for older tokens and 404 for tokens past the next one; bad id/slug gives 404 `Query not found`.
 * - Data pages are RUNNING with nextUri/partialCancelUri; the final page is FINISHED, has columns and no nextUri.
 * - Parse errors, denied impersonation and unknown transactions fail the query at dispatch (seen on the queued
 *   poll); semantic errors (unknown table, column...) fail it at execution (seen on the executing poll). Errors come
 *   as HTTP 200 with `error` and state FAILED. `sqlState` is never set by Trino (always null) so it is omitted,
 *   as are all other null fields.
 * - Session headers in, X-Trino-Set-* / Clear-* / Added-Prepare / ... headers out.
 * - nextUri GET/DELETE and /v1/info are public; everything else is authenticated.
 *
 * SQL: queries (SELECT, WITH, VALUES, TABLE) over the demo catalogs tpch and hive are answered by DuckDB
 * (sandbox/trino/duckdb-engine.ts; docs/sandbox-trino.md lists the tables and how DuckDB's SQL differs from
 * Trino's), with Trino's column names, types and errors. The coordinator answers the rest itself
 * (case-insensitive): SHOW CATALOGS|SCHEMAS|TABLES|COLUMNS|SESSION [LIKE 'p'], DESCRIBE, USE, SET SESSION,
 * RESET SESSION, PREPARE, EXECUTE, DEALLOCATE PREPARE, START TRANSACTION, COMMIT, ROLLBACK, and simple
 * SELECT <*|columns|literals|count(*)> FROM [[catalog.]schema.]table [LIMIT n|ALL] over its own live tables
 * (system.*, sandbox.gen.*, information_schema).
 *
 * Row generator: `SELECT * FROM sandbox.gen.rows_<N>` (columns id bigint = 1..N, label varchar = 'row-<id>'),
 * generated page by page on demand, so N = 1,000,000 costs nothing until pages are fetched.
 * Slow query: `SELECT * FROM sandbox.gen.sleep_<ms>` stays RUNNING (empty long-poll pages, honouring maxWait)
 * for <ms> milliseconds, then returns one row (slept_ms bigint).
 *
 * Layout: this file is the client protocol (routing, statement lifecycle, long-polled pages, cancel, query
 * resources) — one class, because it owns the per-query state machine its routes share. The rest is in
 * sandbox/trino/: authenticator.ts (none / basic / JWT, impersonation), session.ts (X-Trino-* headers in and
 * out), query-record.ts (a query's state, slugs), query-json.ts (QueryResults, QueryInfo), catalog.ts (catalogs,
 * tables, information_schema, system tables), planner.ts and sql-lexer.ts / sql-ast.ts / sql-parser.ts (the
 * statements answered here), duckdb-*.ts (the SQL answered by DuckDB).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as crypto from 'node:crypto';
import { URL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FaultMode, SandboxServer } from './types';
import { answerAfter } from './answer-delay';
import { staticTable } from './trino/columns';
import { DemoSqlEngine, answeredByDemoEngine } from './trino/duckdb-engine';
import { DemoCatalog, TRINO_VERSION } from './trino/catalog';
import { Planner } from './trino/planner';
import { TrinoAuthenticator, type AuthFail, type TrinoCoordinatorAuth } from './trino/authenticator';
import { basicQueryInfo, pageResults, queryInfo, queuedResults } from './trino/query-json';
import { EXECUTING_QUERY, formatDuration, parseDuration, QUEUED_QUERY, slugValid, type Effects, type Page, type QueryRecord } from './trino/query-record';
import { BadRequest, effectHeaders, headerValue, sessionFrom, type SessionInfo } from './trino/session';
import { parseSql, queryTypeOf } from './trino/sql-parser';
import { TRINO_EXCEPTION, TrinoFailure, type Failure } from './trino/errors';

// ---------------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------------

export type { TrinoCoordinatorAuth } from './trino/authenticator';

export interface TrinoCoordinatorOptions {
  /** 0/undefined = random free port on 127.0.0.1. */
  port?: number;
  /**
   * Mode jwt or basic needs it, as Trino authenticates only over HTTPS (over http it ignores a bearer
   * token, trusts X-Trino-User and refuses passwords: that is mode none).
   */
  auth?: TrinoCoordinatorAuth;
  /** Serve HTTPS with this key and certificate (PEM); the URL is then https://127.0.0.1:port. */
  tls?: { key: string; cert: string };
  /** Rows per data page, default 1000. */
  pageRows?: number;
  /** Base used in nextUri/infoUri; default: from Host / X-Forwarded-Proto/Host/Port/Prefix (process-forwarded). */
  externalUrl?: string;
  /** A running query nobody polls for this long is failed as ABANDONED_QUERY (Trino query.client.timeout), default 5 min. */
  clientTimeoutMs?: number;
  /** Finished queries are kept this long for /v1/query and nextUri re-reads (Trino query.min-expire-age), default 15 min. */
  queryRetentionMs?: number;
  /** At most this many finished queries are kept (Trino query.max-history), default 100. */
  maxQueryHistory?: number;
  /** Ids given to the first queries, in order (sandbox mode's demo query has the id the OpenAPI examples name); then generated. */
  queryIds?: string[];
}

export interface TrinoRequestLogEntry {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface TrinoCoordinator extends SandboxServer {
  /** Every X-Trino-User header value seen on POST /v1/statement, in order (whatever the auth outcome; last 10,000). */
  readonly receivedUsers: string[];
  /** Log of received requests (last 1000). */
  readonly requests: TrinoRequestLogEntry[];
  /** 'hang' = never answer; 'reset' = destroy socket; 'malformed' = 200 with invalid JSON; 'error500'; 'none'. */
  setFault(mode: FaultMode): void;
  /** Every answer waits this long first (0: none); a request closed meanwhile is never answered. */
  setAnswerDelayMs(ms: number): void;
  /** Currently open (unanswered, still connected) HTTP requests. */
  openRequests(): number;
  /** Requests closed before they were answered, since the start: the client gave up (e.g. on a long poll), or a reset fault. */
  abandonedRequests(): number;
  /** Queries neither FINISHED nor FAILED. */
  activeQueries(): number;
}

export function startTrinoCoordinator(opts: TrinoCoordinatorOptions = {}): Promise<TrinoCoordinator> {
  const coordinator = new TrinoCoordinatorServer(opts);
  return coordinator.listen().then(() => coordinator);
}

const MAX_WAIT_MS = 1000;
const REQUEST_LOG_LIMIT = 1000;
const RECEIVED_USERS_LIMIT = 10000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const MAX_QUERY_LENGTH = 1_000_000;

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

class TrinoCoordinatorServer implements TrinoCoordinator {
  readonly receivedUsers: string[] = [];
  readonly requests: TrinoRequestLogEntry[] = [];

  private readonly server: http.Server | https.Server;
  private readonly pageRows: number;
  private readonly auth: TrinoCoordinatorAuth;
  private readonly authenticator: TrinoAuthenticator;
  private readonly externalUrl?: string;
  private readonly clientTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly maxHistory: number;
  private readonly queries = new Map<string, QueryRecord>();
  private readonly transactions = new Map<string, number>();
  private readonly open = new Set<http.ServerResponse>();
  private abandoned = 0;
  private readonly startedAt = Date.now();
  private readonly coordinatorId: string;
  private readonly nodeId = crypto.randomUUID();
  private readonly planner: Planner;
  private queryCounter = 0;
  private fault: FaultMode = 'none';
  private answerDelayMs = 0;
  private purgeTimer?: NodeJS.Timeout;
  private baseUrl = '';
  private closed = false;
  /** DuckDB with the demo tables: answers the queries answeredByDemoEngine picks. */
  private engine?: DemoSqlEngine;

  private readonly presetQueryIds: string[];

  constructor(private readonly opts: TrinoCoordinatorOptions) {
    this.presetQueryIds = [...(opts.queryIds ?? [])];
    this.planner = new Planner(new DemoCatalog({ nodeId: this.nodeId, baseUrl: () => this.baseUrl, queries: () => this.queries.values() }));
    this.pageRows = Math.max(1, Math.floor(opts.pageRows ?? 1000));
    this.auth = opts.auth ?? { mode: 'none' };
    if (this.auth.mode !== 'none' && !opts.tls) {
      throw new Error(`Trino authenticates only over HTTPS: auth mode ${this.auth.mode} needs tls (over http Trino trusts X-Trino-User: mode none)`);
    }
    this.authenticator = new TrinoAuthenticator(this.auth);
    this.externalUrl = opts.externalUrl?.replace(/\/+$/, '');
    this.clientTimeoutMs = opts.clientTimeoutMs ?? 5 * 60_000;
    this.retentionMs = opts.queryRetentionMs ?? 15 * 60_000;
    this.maxHistory = opts.maxQueryHistory ?? 100;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    this.coordinatorId = Array.from(crypto.randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res);
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  }

  get url(): string {
    return this.baseUrl;
  }

  async listen(): Promise<void> {
    this.engine = await DemoSqlEngine.create();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, '127.0.0.1', () => {
        this.server.off('error', reject);
        const addr = this.server.address() as AddressInfo;
        this.baseUrl = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${addr.port}`;
        this.purgeTimer = setInterval(() => this.purge(), 1000);
        this.purgeTimer.unref();
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    for (const q of this.queries.values()) this.wake(q);
    return new Promise((resolve) => {
      this.server.close(() => {
        this.engine?.close();
        resolve();
      });
      for (const res of this.open) res.socket?.destroy();
      this.server.closeAllConnections();
    });
  }

  setFault(mode: FaultMode): void {
    this.fault = mode;
  }

  setAnswerDelayMs(ms: number): void {
    this.answerDelayMs = Math.max(0, ms);
  }

  openRequests(): number {
    return this.open.size;
  }

  abandonedRequests(): number {
    return this.abandoned;
  }

  activeQueries(): number {
    let n = 0;
    for (const q of this.queries.values()) if (q.state !== 'FINISHED' && q.state !== 'FAILED') n++;
    return n;
  }

  // ----- plumbing ------------------------------------------------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } });
    if (this.requests.length > REQUEST_LOG_LIMIT) this.requests.splice(0, this.requests.length - REQUEST_LOG_LIMIT);
    this.open.add(res);
    const done = (): void => {
      this.open.delete(res);
    };
    res.once('finish', done);
    res.once('close', () => {
      if (!res.writableFinished) this.abandoned++;
      done();
    });
    req.on('error', () => undefined);
    res.on('error', () => undefined);

    switch (this.fault) {
      case 'hang':
        req.resume();
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'malformed':
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"id":"' + this.newQueryId().slice(0, 12) + '","stats":{"state":');
        return;
      case 'error500':
        req.resume();
        this.sendText(res, 500, 'Internal Server Error');
        return;
      default:
        break;
    }
    const answer = () =>
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.sendText(res, 500, err instanceof Error ? err.message : String(err));
        } else {
          res.destroy();
        }
      });
    if (this.answerDelayMs > 0) void answerAfter(res, this.answerDelayMs).then((alive) => (alive ? answer() : undefined));
    else void answer();
  }

  private sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    const body = Buffer.from(text, 'utf8');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
    res.end(body);
  }

  private sendAuthFailure(res: http.ServerResponse, fail: AuthFail): void {
    this.sendText(res, fail.status, fail.message, fail.challenge ? { 'WWW-Authenticate': fail.challenge } : {});
  }

  private sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    const body = Buffer.from(JSON.stringify(value), 'utf8');
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
    res.end(body);
  }

  private sendEmpty(res: http.ServerResponse, status: number): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, { 'Content-Length': 0 });
    res.end();
  }

  private readBody(req: http.IncomingMessage): Promise<string | null> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (v: string | null): void => {
        if (!settled) {
          settled = true;
          resolve(v);
        }
      };
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy();
          finish(null);
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => finish(Buffer.concat(chunks).toString('utf8')));
      req.on('close', () => finish(req.complete ? Buffer.concat(chunks).toString('utf8') : null));
      req.on('error', () => finish(null));
    });
  }

  /** Base URI as the coordinator sees it (http-server.process-forwarded=true), or the configured externalUrl. */
  private requestBase(req: http.IncomingMessage): string {
    if (this.externalUrl) return this.externalUrl;
    const first = (name: string): string | undefined => headerValue(req, name)?.split(',')[0].trim() || undefined;
    const proto = first('x-forwarded-proto') ?? (this.opts.tls ? 'https' : 'http');
    let host = first('x-forwarded-host') ?? headerValue(req, 'host') ?? this.baseUrl.replace(/^https?:\/\//, '');
    const port = first('x-forwarded-port');
    if (port && /^\d+$/.test(port)) {
      const bare = host.replace(/:\d+$/, '');
      const isDefault = (proto === 'https' && port === '443') || (proto === 'http' && port === '80');
      host = isDefault ? bare : `${bare}:${port}`;
    }
    let prefix = first('x-forwarded-prefix') ?? '';
    prefix = prefix.replace(/\/+$/, '');
    if (prefix && !prefix.startsWith('/')) prefix = '/' + prefix;
    return `${proto}://${host}${prefix}`;
  }

  private newQueryId(): string {
    const preset = this.presetQueryIds.shift();
    if (preset !== undefined) return preset;
    const d = new Date();
    const p = (n: number, w = 2): string => String(n).padStart(w, '0');
    this.queryCounter = (this.queryCounter + 1) % 100000;
    return (
      `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}_` +
      `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}_${p(this.queryCounter, 5)}_${this.coordinatorId}`
    );
  }

  // ----- routing -------------------------------------------------------------------------------------------------

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://coordinator.invalid');
    const method = req.method ?? 'GET';
    const seg = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });
    const path = '/' + seg.join('/');

    if (path === '/v1/statement') {
      if (method !== 'POST') return this.methodNotAllowed(req, res);
      return this.postStatement(req, res);
    }
    if (seg[0] === 'v1' && seg[1] === 'statement' && seg[2] === 'queued' && seg.length === 6) {
      req.resume();
      if (method === 'GET') return this.getQueued(req, res, seg[3], seg[4], seg[5]);
      if (method === 'DELETE') return this.deleteQueued(res, seg[3], seg[4], seg[5]);
      return this.methodNotAllowed(req, res);
    }
    if (seg[0] === 'v1' && seg[1] === 'statement' && seg[2] === 'executing' && seg[3] === 'partialCancel' && seg.length === 8) {
      req.resume();
      if (method !== 'DELETE') return this.methodNotAllowed(req, res);
      return this.partialCancel(res, seg[4], seg[6], seg[7]);
    }
    if (seg[0] === 'v1' && seg[1] === 'statement' && seg[2] === 'executing' && seg.length === 6) {
      req.resume();
      if (method === 'GET') return this.getExecuting(req, res, url, seg[3], seg[4], seg[5]);
      if (method === 'DELETE') return this.deleteExecuting(res, seg[3], seg[4], seg[5]);
      return this.methodNotAllowed(req, res);
    }
    if (path === '/v1/info') {
      req.resume();
      if (method !== 'GET') return this.methodNotAllowed(req, res);
      return this.sendJson(res, 200, {
        nodeVersion: { version: TRINO_VERSION },
        environment: 'sandbox',
        coordinator: true,
        starting: false,
        uptime: formatDuration(Date.now() - this.startedAt),
      });
    }
    if (path === '/v1/info/state') {
      req.resume();
      if (method !== 'GET') return this.methodNotAllowed(req, res);
      return this.sendJson(res, 200, 'ACTIVE');
    }
    if (path === '/v1/info/coordinator') {
      req.resume();
      if (method !== 'GET') return this.methodNotAllowed(req, res);
      return this.sendEmpty(res, 200);
    }
    if (seg[0] === 'v1' && seg[1] === 'query' && seg.length <= 4) {
      return this.queryResource(req, res, url, method, seg);
    }
    if (path === '/ui/query.html' && method === 'GET') {
      req.resume();
      return this.queryHtml(res, url.search.replace(/^\?/, ''));
    }
    if ((path === '/' || path === '/ui') && method === 'GET') {
      req.resume();
      res.writeHead(303, { Location: '/ui/', 'Content-Length': 0 });
      res.end();
      return;
    }
    req.resume();
    this.sendText(res, 404, 'Not Found');
  }

  private methodNotAllowed(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    this.sendText(res, 405, 'Method Not Allowed');
  }

  // ----- POST /v1/statement --------------------------------------------------------------------------------------

  private async postStatement(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawUser = req.headers['x-trino-user'];
    if (rawUser !== undefined) {
      this.receivedUsers.push(Array.isArray(rawUser) ? rawUser.join(',') : rawUser);
      if (this.receivedUsers.length > RECEIVED_USERS_LIMIT) this.receivedUsers.splice(0, this.receivedUsers.length - RECEIVED_USERS_LIMIT);
    }
    const body = await this.readBody(req);
    if (body === null) {
      if (!res.destroyed) this.sendText(res, 413, 'Request entity too large');
      return;
    }
    const auth = await this.authenticator.authenticate(req);
    if (!auth.ok) return this.sendAuthFailure(res, auth);
    if (body === '') return this.sendText(res, 400, 'SQL statement is empty');

    let session: SessionInfo;
    try {
      session = sessionFrom(req, auth);
    } catch (err) {
      if (err instanceof BadRequest) return this.sendText(res, 400, err.message);
      throw err;
    }

    let pending: QueryRecord['pending'];
    if (auth.impersonationDenied) {
      pending = {
        failure: {
          name: 'PERMISSION_DENIED',
          type: 'io.trino.spi.security.AccessDeniedException',
          message: `Access Denied: User ${auth.principal} cannot impersonate user ${auth.user}`,
        },
      };
    } else if (body.length > MAX_QUERY_LENGTH) {
      pending = {
        failure: {
          name: 'QUERY_TEXT_TOO_LARGE',
          type: TRINO_EXCEPTION,
          message: `Query text length (${body.length}) exceeds the maximum length (${MAX_QUERY_LENGTH})`,
        },
      };
    } else if (session.transactionId && !this.transactions.has(session.transactionId)) {
      pending = {
        failure: {
          name: 'UNKNOWN_TRANSACTION',
          type: TRINO_EXCEPTION,
          message: `Unknown transaction ID: ${session.transactionId}. Possibly expired? Commands ignored until end of transaction block`,
        },
      };
    } else if (answeredByDemoEngine(body, session.catalog)) {
      pending = { engine: true };
    } else {
      try {
        pending = { stmt: parseSql(body) };
      } catch (err) {
        if (!(err instanceof TrinoFailure)) throw err;
        pending = { failure: err.failure };
      }
    }

    const now = Date.now();
    const q: QueryRecord = {
      id: this.newQueryId(),
      slugKey: crypto.randomBytes(16),
      sql: body,
      session,
      pending,
      state: 'QUEUED',
      createTime: now,
      lastHeartbeat: now,
      queuedLastToken: 0,
      exec: { lastToken: -1, nextToken: 0 },
      cursor: 0,
      processedRows: 0,
      waiters: new Set(),
      queryType: 'stmt' in pending ? queryTypeOf(pending.stmt) : 'SELECT',
    };
    this.queries.set(q.id, q);
    this.sendJson(res, 200, queuedResults(q, this.requestBase(req), q.queuedLastToken + 1, this.pageRows));
  }

  // ----- results -------------------------------------------------------------------------------------------------

  private wake(q: QueryRecord): void {
    for (const w of q.waiters) w();
    q.waiters.clear();
  }

  private fail(q: QueryRecord, failure: Failure): void {
    if (q.state === 'FINISHED' || q.state === 'FAILED') return;
    q.state = 'FAILED';
    q.failure = failure;
    q.endTime = Date.now();
    this.wake(q);
  }

  private finish(q: QueryRecord): void {
    if (q.state === 'FINISHED' || q.state === 'FAILED') return;
    q.state = 'FINISHED';
    q.endTime = Date.now();
    this.wake(q);
  }

  private cancel(q: QueryRecord): void {
    this.fail(q, { name: 'USER_CANCELED', type: TRINO_EXCEPTION, message: 'Query was canceled' });
  }

  /** Submits the query (first queued poll): parse errors and access denials fail it here, the rest is planned. */
  private dispatch(q: QueryRecord): void {
    if (q.dispatchTime !== undefined) return;
    q.dispatchTime = Date.now();
    if (q.state === 'FAILED') return;
    if ('failure' in q.pending) {
      this.fail(q, q.pending.failure);
      return;
    }
    if ('engine' in q.pending) {
      // Runs off the event loop; until it settles the query is RUNNING with empty pages (outcome unset).
      q.state = 'RUNNING';
      const { user, catalog, schema } = q.session;
      this.engine!.query(q.sql, { user, catalog, schema }).then(
        (result) => {
          q.outcome = { kind: 'rows', queryType: 'SELECT', source: staticTable(result.columns, result.rows), total: result.rows.length };
          this.wake(q);
        },
        (err: unknown) => {
          const failure: Failure =
            err instanceof TrinoFailure ? err.failure : { name: 'GENERIC_INTERNAL_ERROR', type: 'java.lang.RuntimeException', message: String(err) };
          q.outcome = { kind: 'error', stage: 'execute', failure };
          this.wake(q);
        },
      );
      return;
    }
    try {
      q.outcome = this.planner.plan(q.pending.stmt, q.session, q.sql);
    } catch (err) {
      if (!(err instanceof TrinoFailure)) throw err;
      q.outcome = { kind: 'error', stage: 'execute', failure: err.failure };
    }
    q.queryType = q.outcome.kind === 'error' ? q.queryType : q.outcome.queryType;
    if (q.outcome.kind === 'error' && q.outcome.stage === 'dispatch') {
      this.fail(q, q.outcome.failure);
      return;
    }
    q.state = 'RUNNING';
  }

  private delayRemaining(q: QueryRecord): number {
    if (q.state !== 'RUNNING' || q.outcome?.kind !== 'rows' || !q.outcome.delayMs || q.dispatchTime === undefined) return 0;
    return Math.max(0, q.dispatchTime + q.outcome.delayMs - Date.now());
  }

  private nextPage(q: QueryRecord, token: number): Page {
    const next = token + 1;
    let page: Page;
    const outcome = q.outcome;
    if (q.state === 'FAILED') {
      page = { state: 'FAILED', nextToken: null, partialCancel: false, failure: q.failure, headers: {} };
    } else if (!outcome) {
      page = { state: 'RUNNING', nextToken: next, partialCancel: false, headers: {} };
    } else if (outcome.kind === 'error') {
      this.fail(q, outcome.failure);
      page = { state: 'FAILED', nextToken: null, partialCancel: false, failure: outcome.failure, headers: {} };
    } else if (outcome.kind === 'update') {
      this.applyEffects(q, outcome.effects);
      q.updateType = outcome.updateType;
      this.finish(q);
      page = { state: 'FINISHED', nextToken: null, partialCancel: false, updateType: outcome.updateType, headers: effectHeaders(outcome.effects) };
    } else if (this.delayRemaining(q) > 0) {
      page = { state: 'RUNNING', nextToken: next, partialCancel: true, headers: {} };
    } else if (q.cursor < outcome.total) {
      const end = Math.min(outcome.total, q.cursor + this.pageRows);
      const data: unknown[][] = [];
      for (let i = q.cursor; i < end; i++) data.push(outcome.source.row(i));
      q.cursor = end;
      q.processedRows = end;
      page = { state: 'RUNNING', columns: outcome.source.columns, data, nextToken: next, partialCancel: true, headers: {} };
    } else {
      this.finish(q);
      page = { state: 'FINISHED', columns: outcome.source.columns, nextToken: null, partialCancel: false, headers: {} };
    }
    q.exec.lastToken = token;
    q.exec.nextToken = page.nextToken;
    q.exec.last = page;
    return page;
  }

  private applyEffects(q: QueryRecord, e: Effects): void {
    if (e.startedTransactionId) this.transactions.set(e.startedTransactionId, Date.now());
    if (e.clearTransactionId && q.session.transactionId) this.transactions.delete(q.session.transactionId);
    q.effects = e;
  }

  /** Executing-resource token rule (io.trino.server.protocol.Query#getCachedResult). */
  private tokenCheck(q: QueryRecord, token: number): 'cached' | 'next' | 410 | 404 {
    if (q.exec.last) {
      if (token === q.exec.lastToken) return 'cached';
      if (token < q.exec.lastToken) return 410;
    }
    if (q.exec.nextToken === null || token !== q.exec.nextToken) return 404;
    return 'next';
  }

  private lookup(id: string, context: number, slug: string, tokenStr: string): { q: QueryRecord; token: number } | undefined {
    if (!/^\d{1,15}$/.test(tokenStr)) return undefined;
    const token = Number(tokenStr);
    const q = this.queries.get(id);
    if (!q || !slugValid(q, context, slug, token)) return undefined;
    return { q, token };
  }

  private getQueued(req: http.IncomingMessage, res: http.ServerResponse, id: string, slug: string, tokenStr: string): void {
    const found = this.lookup(id, QUEUED_QUERY, slug, tokenStr);
    if (!found) return this.sendText(res, 404, 'Query not found');
    const { q, token } = found;
    q.lastHeartbeat = Date.now();
    if (token !== q.queuedLastToken && token !== q.queuedLastToken + 1) return this.sendText(res, 410, 'Invalid token');
    q.queuedLastToken = token;
    this.dispatch(q);
    this.sendJson(res, 200, queuedResults(q, this.requestBase(req), token + 1, this.pageRows));
  }

  private deleteQueued(res: http.ServerResponse, id: string, slug: string, tokenStr: string): void {
    const found = this.lookup(id, QUEUED_QUERY, slug, tokenStr);
    if (!found) return this.sendText(res, 404, 'Query not found');
    this.cancel(found.q);
    this.sendEmpty(res, 204);
  }

  private async getExecuting(req: http.IncomingMessage, res: http.ServerResponse, url: URL, id: string, slug: string, tokenStr: string): Promise<void> {
    const found = this.lookup(id, EXECUTING_QUERY, slug, tokenStr);
    if (!found) return this.sendText(res, 404, 'Query not found');
    const { q, token } = found;
    q.lastHeartbeat = Date.now();
    // targetResultSize is accepted and ignored: pages are sized by pageRows.
    const maxWait = Math.min(MAX_WAIT_MS, parseDuration(url.searchParams.get('maxWait')) ?? MAX_WAIT_MS);
    const base = this.requestBase(req);

    let check = this.tokenCheck(q, token);
    if (check === 'next') {
      this.dispatch(q);
      const remaining = q.state === 'RUNNING' && !q.outcome ? maxWait : this.delayRemaining(q);
      if (remaining > 0) {
        const stillConnected = await this.waitFor(q, res, Math.min(remaining, maxWait));
        if (!stillConnected) return;
        q.lastHeartbeat = Date.now();
        check = this.tokenCheck(q, token);
      }
    }
    if (check === 410 || check === 404) return this.sendEmpty(res, check);
    const page = check === 'cached' && q.exec.last ? q.exec.last : this.nextPage(q, token);
    this.sendJson(res, 200, pageResults(q, base, page, this.pageRows), page.headers);
  }

  /** Long-poll wait: resolves true after `ms` or on a state change, false if the client went away. */
  private waitFor(q: QueryRecord, res: http.ServerResponse, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (connected: boolean): void => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        q.waiters.delete(wakeUp);
        res.off('close', onClose);
        resolve(connected && !res.destroyed && !this.closed);
      };
      const wakeUp = (): void => settle(true);
      const onClose = (): void => settle(false);
      timer = setTimeout(wakeUp, ms);
      q.waiters.add(wakeUp);
      res.once('close', onClose);
    });
  }

  private deleteExecuting(res: http.ServerResponse, id: string, slug: string, tokenStr: string): void {
    const found = this.lookup(id, EXECUTING_QUERY, slug, tokenStr);
    if (!found) return this.sendText(res, 404, 'Query not found');
    this.cancel(found.q);
    this.sendEmpty(res, 204);
  }

  private partialCancel(res: http.ServerResponse, id: string, slug: string, tokenStr: string): void {
    const found = this.lookup(id, EXECUTING_QUERY, slug, tokenStr);
    if (!found) return this.sendText(res, 404, 'Query not found');
    // A single-stage plan: cancelling the leaf stage leaves nothing else to do.
    this.sendEmpty(res, 204);
  }

  // ----- /v1/query -----------------------------------------------------------------------------------------------

  private async queryResource(req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string, seg: string[]): Promise<void> {
    let body: string | null = '';
    if (method === 'PUT') body = await this.readBody(req);
    else req.resume();
    const auth = await this.authenticator.authenticate(req);
    if (!auth.ok) return this.sendAuthFailure(res, auth);
    if (auth.impersonationDenied) {
      return this.sendText(res, 403, `Access Denied: User ${auth.principal} cannot impersonate user ${auth.user}`);
    }
    const base = this.requestBase(req);
    if (seg.length === 2) {
      if (method !== 'GET') return this.sendText(res, 405, 'Method Not Allowed');
      const state = url.searchParams.get('state')?.toUpperCase();
      const list = [...this.queries.values()].filter((q) => !state || q.state === state).map((q) => basicQueryInfo(q, base));
      return this.sendJson(res, 200, list);
    }
    const q = this.queries.get(seg[2]);
    if (seg.length === 3) {
      if (method === 'GET') {
        if (!q) return this.sendEmpty(res, 410);
        return this.sendJson(res, 200, queryInfo(q, base));
      }
      if (method === 'DELETE') {
        if (q) this.cancel(q);
        return this.sendEmpty(res, 204);
      }
      return this.sendText(res, 405, 'Method Not Allowed');
    }
    if (seg[3] === 'killed' && method === 'PUT') {
      if (!q) return this.sendEmpty(res, 410);
      if (q.state === 'FINISHED' || q.state === 'FAILED') return this.sendEmpty(res, 409);
      const message = (body ?? '').trim();
      this.fail(q, {
        name: 'ADMINISTRATIVELY_KILLED',
        type: TRINO_EXCEPTION,
        message: message ? `Query killed. Message: ${message}` : 'Query killed',
      });
      return this.sendEmpty(res, 202);
    }
    this.sendText(res, 404, 'Not Found');
  }

  private queryHtml(res: http.ServerResponse, id: string): void {
    const q = this.queries.get(id);
    const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const body = q
      ? `<!doctype html><html><head><title>Query ${esc(q.id)}</title></head><body><h1>Query ${esc(q.id)}</h1>` +
        `<p>State: ${esc(q.state)}</p><p>User: ${esc(q.session.user)}</p><pre>${esc(q.sql)}</pre></body></html>`
      : `<!doctype html><html><body><p>Query not found</p></body></html>`;
    const buf = Buffer.from(body, 'utf8');
    res.writeHead(q ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': buf.length });
    res.end(buf);
  }

  // ----- housekeeping --------------------------------------------------------------------------------------------

  private purge(): void {
    const now = Date.now();
    const done: QueryRecord[] = [];
    for (const q of this.queries.values()) {
      if (q.state === 'FINISHED' || q.state === 'FAILED') {
        if (now - (q.endTime ?? now) > this.retentionMs) this.queries.delete(q.id);
        else done.push(q);
      } else if (now - q.lastHeartbeat > this.clientTimeoutMs) {
        this.fail(q, {
          name: 'ABANDONED_QUERY',
          type: TRINO_EXCEPTION,
          message:
            `Query ${q.id} was abandoned by the client, as it may have exited or stopped checking for query results. ` +
            `Query results have not been accessed since ${new Date(q.lastHeartbeat).toISOString()}: currentTime ${new Date(now).toISOString()}`,
        });
      }
    }
    if (done.length > this.maxHistory) {
      done.sort((a, b) => (a.endTime ?? 0) - (b.endTime ?? 0));
      for (const q of done.slice(0, done.length - this.maxHistory)) this.queries.delete(q.id);
    }
    for (const [tx, created] of this.transactions) {
      if (now - created > this.clientTimeoutMs) this.transactions.delete(tx);
    }
  }
}
