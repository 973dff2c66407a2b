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
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as crypto from 'node:crypto';
import { URL } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { AddressInfo } from 'node:net';
import type { FaultMode, SandboxServer, TokenVerification } from './types';
import { column, staticTable, type Column, type TableSource } from './trino/columns';
import { DemoSqlEngine, answeredByDemoEngine } from './trino/duckdb-engine';
import { DEMO_TABLES } from './trino/demo-data';
import { ERROR_CODES, STATEMENT_KEYWORDS, TRINO_EXCEPTION, TrinoFailure, failureAt, syntaxError, toQueryError, errorType, type Failure } from './trino/errors';

// ---------------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------------

export type TrinoCoordinatorAuth =
  | { mode: 'none' }
  | {
      mode: 'jwt';
      verify: TokenVerification;
      /** Claim holding the authenticated principal (Trino's jwt.principal-field); default `sub`, as in Trino. */
      principalClaim?: string;
      /** Principals allowed to run queries as another X-Trino-User. */
      impersonators?: string[];
    }
  | { mode: 'basic'; users: Record<string, string>; impersonators?: string[] };

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
  /** Currently open (unanswered, still connected) HTTP requests. */
  openRequests(): number;
  /** Queries neither FINISHED nor FAILED. */
  activeQueries(): number;
}

export function startTrinoCoordinator(opts: TrinoCoordinatorOptions = {}): Promise<TrinoCoordinator> {
  const coordinator = new TrinoCoordinatorServer(opts);
  return coordinator.listen().then(() => coordinator);
}

const demoTable = (catalog: string, schema: string, table: string): TableSource => {
  const t = DEMO_TABLES.find((d) => d.catalog === catalog && d.schema === schema && d.table === table)!;
  return staticTable(
    t.columns.map((c) => column(c.name, c.trinoType)),
    t.rows as unknown[][],
  );
};
const nationTable = demoTable('tpch', 'tiny', 'nation');
const regionTable = demoTable('tpch', 'tiny', 'region');
const ordersTable = demoTable('hive', 'sales', 'orders');

const MAX_GENERATED_ROWS = Number.MAX_SAFE_INTEGER;

function generatorTable(n: number): TableSource {
  return {
    columns: [column('id', 'bigint'), column('label', 'varchar')],
    rowCount: n,
    row: (i) => [i + 1, `row-${i + 1}`],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------------------------

interface SessionInfo {
  user: string;
  principal: string;
  originalUser?: string;
  source?: string;
  catalog?: string;
  schema?: string;
  path?: string;
  timeZone?: string;
  language?: string;
  traceToken?: string;
  clientInfo?: string;
  clientTags: string[];
  clientCapabilities: string[];
  resourceEstimates: Record<string, string>;
  systemProperties: Record<string, string>;
  catalogProperties: Record<string, Record<string, string>>;
  preparedStatements: Record<string, string>;
  roles: Record<string, string>;
  extraCredentialNames: string[];
  transactionId?: string;
  /** The client sent X-Trino-Transaction-Id (NONE or an id): it supports transactions. */
  clientTransactionSupport: boolean;
  remoteUserAddress?: string;
  userAgent?: string;
}

const KNOWN_SESSION_PROPERTIES: Array<{ name: string; def: string; type: string; description: string }> = [
  { name: 'join_distribution_type', def: 'AUTOMATIC', type: 'varchar', description: 'Join distribution type. Possible values: [BROADCAST, PARTITIONED, AUTOMATIC]' },
  { name: 'query_max_execution_time', def: '100.00d', type: 'varchar', description: 'Maximum execution time of a query' },
  { name: 'query_max_run_time', def: '100.00d', type: 'varchar', description: 'Maximum run time of a query (includes the queueing time)' },
  { name: 'query_priority', def: '1', type: 'integer', description: 'The priority of queries. Larger numbers are higher priority' },
  { name: 'spill_enabled', def: 'false', type: 'boolean', description: 'Enable spilling' },
];

class BadRequest extends Error {}

/** java.net.URLEncoder (UTF-8): space → '+', keeps alphanumerics and `.-*_`. */
function javaUrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

function javaUrlDecode(s: string, header: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new BadRequest(`Invalid ${header} header`);
  }
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v.join(',') : v;
  if (s === undefined) return undefined;
  const t = s.trim();
  return t === '' ? undefined : t;
}

function parseNameValueList(value: string | undefined, header: string, decode: boolean): Array<[string, string]> {
  if (value === undefined) return [];
  const out: Array<[string, string]> = [];
  for (const part of value.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new BadRequest(`Invalid ${header} header`);
    const name = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    out.push([name, decode ? javaUrlDecode(raw, header) : raw]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// SQL: tokenizer and parser
// ---------------------------------------------------------------------------------------------------------------

type TokKind = 'ident' | 'qident' | 'string' | 'number' | 'sym' | 'eof';

interface Tok {
  kind: TokKind;
  /** Source text of the token. */
  text: string;
  /** Identifier (lower-cased unless quoted), unescaped string literal, or the text. */
  value: string;
  pos: number;
}

function tokenize(sql: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_@$]/.test(sql[i])) i++;
      const text = sql.slice(start, i);
      toks.push({ kind: 'ident', text, value: text.toLowerCase(), pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) {
          throw syntaxError(sql, start, `token recognition error at: '${sql.slice(start)}'`);
        }
        if (sql[i] === c) {
          if (sql[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += sql[i++];
      }
      toks.push({ kind: c === '"' ? 'qident' : 'string', text: sql.slice(start, i), value, pos: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(sql[i])) i++;
      if (sql[i] === '.') {
        i++;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      if ((sql[i] === 'e' || sql[i] === 'E') && /[-+0-9]/.test(sql[i + 1] ?? '')) {
        i++;
        if (sql[i] === '-' || sql[i] === '+') i++;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      const text = sql.slice(start, i);
      toks.push({ kind: 'number', text, value: text, pos: start });
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (['<>', '!=', '<=', '>=', '||', '=>'].includes(two)) {
      toks.push({ kind: 'sym', text: two, value: two, pos: start });
      i += 2;
      continue;
    }
    if ('(),.;*=<>+-/%[]:?'.includes(c)) {
      toks.push({ kind: 'sym', text: c, value: c, pos: start });
      i++;
      continue;
    }
    throw syntaxError(sql, start, `token recognition error at: '${c}'`);
  }
  toks.push({ kind: 'eof', text: '<EOF>', value: '', pos: n });
  return toks;
}

interface Ident {
  name: string;
  pos: number;
}

interface QName {
  parts: Ident[];
  pos: number;
}

type Expr =
  | { kind: 'literal'; type: string; value: unknown; pos: number }
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'special'; name: 'current_user' | 'current_catalog' | 'current_schema' | 'current_timestamp'; pos: number }
  | { kind: 'func'; name: string; star: boolean; args: Expr[]; pos: number };

type SelectItem = { kind: 'star'; pos: number } | { kind: 'expr'; expr: Expr; alias?: string; pos: number };

type Stmt =
  | { kind: 'select'; items: SelectItem[]; from?: QName; limit?: number }
  | { kind: 'showCatalogs'; like?: RegExp }
  | { kind: 'showSchemas'; catalog?: Ident; like?: RegExp; pos: number }
  | { kind: 'showTables'; schema?: QName; like?: RegExp; pos: number }
  | { kind: 'showColumns'; table: QName }
  | { kind: 'showSession'; like?: RegExp }
  | { kind: 'use'; catalog?: Ident; schema: Ident; pos: number }
  | { kind: 'setSession'; name: string; value: string }
  | { kind: 'resetSession'; name: string }
  | { kind: 'prepare'; name: string; sql: string }
  | { kind: 'deallocate'; name: string; pos: number }
  | { kind: 'execute'; name: string; pos: number }
  | { kind: 'startTransaction'; pos: number }
  | { kind: 'commit'; pos: number }
  | { kind: 'rollback'; pos: number }
  | { kind: 'unsupported'; what: string; pos: number };

const CLAUSE_KEYWORDS = new Set([
  'WHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'JOIN',
  'LEFT',
  'RIGHT',
  'INNER',
  'CROSS',
  'FULL',
  'NATURAL',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'OFFSET',
  'FETCH',
  'WINDOW',
  'TABLESAMPLE',
  'FOR',
]);
const RESERVED_AFTER_ITEM = new Set(['FROM', 'LIMIT', 'AS', ...CLAUSE_KEYWORDS]);
const KNOWN_FIRST_KEYWORDS = new Set([
  'ALTER',
  'ANALYZE',
  'CALL',
  'COMMENT',
  'COMMIT',
  'CREATE',
  'DEALLOCATE',
  'DELETE',
  'DENY',
  'DESC',
  'DESCRIBE',
  'DROP',
  'EXECUTE',
  'EXPLAIN',
  'GRANT',
  'INSERT',
  'MERGE',
  'PREPARE',
  'REFRESH',
  'RESET',
  'REVOKE',
  'ROLLBACK',
  'SET',
  'SHOW',
  'START',
  'TRUNCATE',
  'UPDATE',
  'USE',
  'WITH',
  'SELECT',
  'VALUES',
  'TABLE',
]);

function likeToRegExp(pattern: string, escape?: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (escape !== undefined && c === escape && i + 1 < pattern.length) {
      re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') {
      re += '[\\s\\S]*';
    } else if (c === '_') {
      re += '[\\s\\S]';
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

class Parser {
  private i: number;

  constructor(
    private readonly sql: string,
    private readonly toks: Tok[],
    start = 0,
  ) {
    this.i = start;
  }

  private peek(offset = 0): Tok {
    return this.toks[Math.min(this.i + offset, this.toks.length - 1)];
  }

  private next(): Tok {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isKw(kw: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'ident' && t.text.toUpperCase() === kw;
  }

  private acceptKw(kw: string): boolean {
    if (this.isKw(kw)) {
      this.i++;
      return true;
    }
    return false;
  }

  private isSym(s: string): boolean {
    const t = this.peek();
    return t.kind === 'sym' && t.text === s;
  }

  private mismatch(expecting: string): TrinoFailure {
    const t = this.peek();
    return syntaxError(this.sql, t.pos, `mismatched input '${t.text}'. Expecting: ${expecting}`);
  }

  private expectKw(kw: string): void {
    if (!this.acceptKw(kw)) throw this.mismatch(`'${kw}'`);
  }

  private expectEnd(expecting = '<EOF>'): void {
    if (this.peek().kind !== 'eof') throw this.mismatch(expecting);
  }

  private identifier(): Ident {
    const t = this.peek();
    if (t.kind === 'ident' || t.kind === 'qident') {
      this.i++;
      return { name: t.kind === 'ident' ? t.value : t.value.toLowerCase(), pos: t.pos };
    }
    throw this.mismatch('<identifier>');
  }

  private qualifiedName(): QName {
    const first = this.identifier();
    const parts = [first];
    while (this.isSym('.')) {
      this.i++;
      parts.push(this.identifier());
    }
    return { parts, pos: first.pos };
  }

  private likeClause(): RegExp | undefined {
    if (!this.acceptKw('LIKE')) return undefined;
    const p = this.peek();
    if (p.kind !== 'string') throw this.mismatch('<string>');
    this.i++;
    let escape: string | undefined;
    if (this.acceptKw('ESCAPE')) {
      const e = this.peek();
      if (e.kind !== 'string') throw this.mismatch('<string>');
      this.i++;
      escape = e.value;
    }
    return likeToRegExp(p.value, escape);
  }

  private restIsUnsupported(what: string): Stmt {
    return { kind: 'unsupported', what, pos: this.peek().pos };
  }

  parseStatement(): Stmt {
    const first = this.peek();
    if (first.kind !== 'ident' || !KNOWN_FIRST_KEYWORDS.has(first.text.toUpperCase())) {
      if (first.kind === 'sym' && first.text === '(') return this.restIsUnsupported('parenthesized queries');
      throw this.mismatch(STATEMENT_KEYWORDS);
    }
    const kw = first.text.toUpperCase();
    switch (kw) {
      case 'SELECT':
        return this.parseSelect();
      case 'SHOW':
        return this.parseShow();
      case 'DESCRIBE':
      case 'DESC': {
        this.i++;
        if (this.isKw('INPUT') || this.isKw('OUTPUT')) return this.restIsUnsupported(`DESCRIBE ${this.peek().text.toUpperCase()}`);
        const table = this.qualifiedName();
        this.expectEnd();
        return { kind: 'showColumns', table };
      }
      case 'USE': {
        this.i++;
        const name = this.qualifiedName();
        if (name.parts.length > 2) {
          throw syntaxError(this.sql, name.parts[2].pos - 1, `mismatched input '.'. Expecting: <EOF>`);
        }
        this.expectEnd();
        return name.parts.length === 2
          ? { kind: 'use', catalog: name.parts[0], schema: name.parts[1], pos: first.pos }
          : { kind: 'use', schema: name.parts[0], pos: first.pos };
      }
      case 'SET':
        return this.parseSet();
      case 'RESET': {
        this.i++;
        if (!this.acceptKw('SESSION')) return this.restIsUnsupported(`RESET ${this.peek().text.toUpperCase()}`);
        if (this.isKw('AUTHORIZATION')) return this.restIsUnsupported('RESET SESSION AUTHORIZATION');
        const name = this.qualifiedName();
        this.expectEnd();
        return { kind: 'resetSession', name: name.parts.map((p) => p.name).join('.') };
      }
      case 'PREPARE': {
        this.i++;
        const name = this.identifier();
        this.expectKw('FROM');
        const innerStart = this.i;
        const innerTok = this.peek();
        new Parser(this.sql, this.toks, innerStart).parseStatement();
        return { kind: 'prepare', name: name.name, sql: this.sql.slice(innerTok.pos).trim() };
      }
      case 'DEALLOCATE': {
        this.i++;
        this.expectKw('PREPARE');
        const name = this.identifier();
        this.expectEnd();
        return { kind: 'deallocate', name: name.name, pos: first.pos };
      }
      case 'EXECUTE': {
        this.i++;
        const name = this.identifier();
        if (this.acceptKw('USING')) {
          // Parameters are accepted and ignored (the sandbox does not support '?' placeholders).
          while (this.peek().kind !== 'eof') this.i++;
        }
        this.expectEnd();
        return { kind: 'execute', name: name.name, pos: first.pos };
      }
      case 'START': {
        this.i++;
        this.expectKw('TRANSACTION');
        // Transaction modes (ISOLATION LEVEL ..., READ ONLY/WRITE) are accepted as is.
        while (this.peek().kind !== 'eof') this.i++;
        return { kind: 'startTransaction', pos: first.pos };
      }
      case 'COMMIT':
      case 'ROLLBACK': {
        this.i++;
        this.acceptKw('WORK');
        this.expectEnd();
        return kw === 'COMMIT' ? { kind: 'commit', pos: first.pos } : { kind: 'rollback', pos: first.pos };
      }
      default:
        return { kind: 'unsupported', what: kw, pos: first.pos };
    }
  }

  private parseShow(): Stmt {
    const show = this.next();
    const what = this.peek();
    const word = what.kind === 'ident' ? what.text.toUpperCase() : '';
    switch (word) {
      case 'CATALOGS': {
        this.i++;
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showCatalogs', like };
      }
      case 'SCHEMAS': {
        this.i++;
        let catalog: Ident | undefined;
        if (this.acceptKw('FROM') || this.acceptKw('IN')) catalog = this.identifier();
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showSchemas', catalog, like, pos: show.pos };
      }
      case 'TABLES': {
        this.i++;
        let schema: QName | undefined;
        if (this.acceptKw('FROM') || this.acceptKw('IN')) schema = this.qualifiedName();
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showTables', schema, like, pos: show.pos };
      }
      case 'COLUMNS': {
        this.i++;
        if (!this.acceptKw('FROM') && !this.acceptKw('IN')) throw this.mismatch("'FROM', 'IN'");
        const table = this.qualifiedName();
        this.expectEnd();
        return { kind: 'showColumns', table };
      }
      case 'SESSION': {
        this.i++;
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showSession', like };
      }
      case 'BRANCHES':
      case 'CREATE':
      case 'CURRENT':
      case 'FUNCTIONS':
      case 'GRANTS':
      case 'ROLES':
      case 'ROLE':
      case 'STATS':
        return { kind: 'unsupported', what: `SHOW ${word}`, pos: show.pos };
      default:
        throw this.mismatch(
          "'BRANCHES', 'CATALOGS', 'COLUMNS', 'CREATE', 'CURRENT', 'FUNCTIONS', 'GRANTS', 'ROLE', 'ROLES', 'SCHEMAS', 'SESSION', 'STATS', 'TABLES'",
        );
    }
  }

  private parseSet(): Stmt {
    const set = this.next();
    if (!this.acceptKw('SESSION')) {
      return { kind: 'unsupported', what: `SET ${this.peek().text.toUpperCase()}`, pos: set.pos };
    }
    if (this.isKw('AUTHORIZATION')) return { kind: 'unsupported', what: 'SET SESSION AUTHORIZATION', pos: set.pos };
    const name = this.qualifiedName();
    if (name.parts.length > 2) {
      throw syntaxError(this.sql, name.parts[2].pos - 1, `mismatched input '.'. Expecting: '='`);
    }
    if (!this.isSym('=')) throw this.mismatch("'.', '='");
    this.i++;
    const expr = this.primary();
    this.expectEnd();
    if (expr.kind !== 'literal') {
      return { kind: 'unsupported', what: 'SET SESSION with a non-literal value', pos: expr.pos };
    }
    const value = expr.value === null ? 'null' : String(expr.value);
    return { kind: 'setSession', name: name.parts.map((p) => p.name).join('.'), value };
  }

  private primary(): Expr {
    const t = this.peek();
    if (t.kind === 'sym' && t.text === '-' && this.peek(1).kind === 'number') {
      this.i++;
      const num = this.primary();
      if (num.kind === 'literal' && typeof num.value === 'number') return { ...num, value: -num.value, pos: t.pos };
      if (num.kind === 'literal' && typeof num.value === 'string') return { ...num, value: '-' + num.value, pos: t.pos };
      return num;
    }
    if (t.kind === 'number') {
      this.i++;
      if (/[eE]/.test(t.text)) return { kind: 'literal', type: 'double', value: Number(t.text), pos: t.pos };
      if (t.text.includes('.')) {
        const [intPart, frac] = t.text.split('.');
        const digits = (intPart.replace(/^0+/, '') + frac).length || 1;
        const scale = frac.length;
        return { kind: 'literal', type: `decimal(${Math.max(digits, scale, 1)},${scale})`, value: t.text.startsWith('.') ? '0' + t.text : t.text, pos: t.pos };
      }
      const v = Number(t.text);
      return { kind: 'literal', type: Math.abs(v) <= 2147483647 ? 'integer' : 'bigint', value: v, pos: t.pos };
    }
    if (t.kind === 'string') {
      this.i++;
      return { kind: 'literal', type: `varchar(${[...t.value].length})`, value: t.value, pos: t.pos };
    }
    if (t.kind === 'qident') {
      this.i++;
      return { kind: 'ident', name: t.value.toLowerCase(), pos: t.pos };
    }
    if (t.kind === 'ident') {
      const up = t.text.toUpperCase();
      if (up === 'TRUE' || up === 'FALSE') {
        this.i++;
        return { kind: 'literal', type: 'boolean', value: up === 'TRUE', pos: t.pos };
      }
      if (up === 'NULL') {
        this.i++;
        return { kind: 'literal', type: 'unknown', value: null, pos: t.pos };
      }
      if (up === 'CURRENT_USER' || up === 'CURRENT_CATALOG' || up === 'CURRENT_SCHEMA' || up === 'CURRENT_TIMESTAMP') {
        this.i++;
        return { kind: 'special', name: t.value as 'current_user' | 'current_catalog' | 'current_schema' | 'current_timestamp', pos: t.pos };
      }
      if (RESERVED_AFTER_ITEM.has(up) || up === 'SELECT') throw this.mismatch('<expression>');
      this.i++;
      if (this.isSym('(')) {
        this.i++;
        let star = false;
        const args: Expr[] = [];
        if (this.isSym('*')) {
          this.i++;
          star = true;
        } else if (!this.isSym(')')) {
          args.push(this.primary());
          while (this.isSym(',')) {
            this.i++;
            args.push(this.primary());
          }
        }
        if (!this.isSym(')')) throw this.mismatch("')', ','");
        this.i++;
        return { kind: 'func', name: t.value, star, args, pos: t.pos };
      }
      return { kind: 'ident', name: t.value, pos: t.pos };
    }
    throw this.mismatch('<expression>');
  }

  private parseSelect(): Stmt {
    this.next();
    if (this.isKw('DISTINCT') || this.isKw('ALL')) return this.restIsUnsupported('SELECT DISTINCT/ALL');
    const items: SelectItem[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'sym' && t.text === '*') {
        this.i++;
        items.push({ kind: 'star', pos: t.pos });
      } else {
        const expr = this.primary();
        const after = this.peek();
        if (after.kind === 'sym' && !['*', ',', ';', ')', '('].includes(after.text)) {
          return { kind: 'unsupported', what: `operator '${after.text}'`, pos: after.pos };
        }
        if (after.kind === 'sym' && after.text === '*') return { kind: 'unsupported', what: "operator '*'", pos: after.pos };
        let alias: string | undefined;
        if (this.acceptKw('AS')) {
          alias = this.identifier().name;
        } else if ((after.kind === 'ident' && !RESERVED_AFTER_ITEM.has(after.text.toUpperCase())) || after.kind === 'qident') {
          alias = this.identifier().name;
        }
        items.push({ kind: 'expr', expr, alias, pos: t.pos });
      }
      if (this.isSym(',')) {
        this.i++;
        continue;
      }
      break;
    }
    let from: QName | undefined;
    if (this.acceptKw('FROM')) {
      if (this.isSym('(') || this.isKw('TABLE') || this.isKw('UNNEST') || this.isKw('LATERAL')) {
        return this.restIsUnsupported('subqueries and table functions');
      }
      from = this.qualifiedName();
      const t = this.peek();
      if (t.kind === 'ident' && !CLAUSE_KEYWORDS.has(t.text.toUpperCase()) && t.text.toUpperCase() !== 'LIMIT') {
        return this.restIsUnsupported('table aliases');
      }
      if (t.kind === 'sym' && t.text === ',') return this.restIsUnsupported('joins');
    }
    const t = this.peek();
    if (t.kind === 'ident' && CLAUSE_KEYWORDS.has(t.text.toUpperCase())) {
      return this.restIsUnsupported(t.text.toUpperCase());
    }
    let limit: number | undefined;
    if (this.acceptKw('LIMIT')) {
      const l = this.peek();
      if (l.kind === 'number' && /^\d+$/.test(l.text)) {
        this.i++;
        limit = Number(l.text);
      } else if (!this.acceptKw('ALL')) {
        throw this.mismatch("'ALL', <integer>");
      }
    }
    this.expectEnd(from ? "',', '.', 'LIMIT', <EOF>" : "',', 'AS', 'FROM', 'LIMIT', <EOF>");
    return { kind: 'select', items, from, limit };
  }
}

function parseSql(sql: string): Stmt {
  return new Parser(sql, tokenize(sql)).parseStatement();
}

// ---------------------------------------------------------------------------------------------------------------
// Query state
// ---------------------------------------------------------------------------------------------------------------

type QueryState = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED';

interface Effects {
  setCatalog?: string;
  setSchema?: string;
  setSession?: [string, string];
  clearSession?: string;
  addedPrepare?: [string, string];
  deallocatedPrepare?: string;
  startedTransactionId?: string;
  clearTransactionId?: boolean;
}

type Outcome =
  | { kind: 'rows'; queryType: string; source: TableSource; total: number; delayMs?: number }
  | { kind: 'update'; queryType: string; updateType: string; effects: Effects }
  | { kind: 'error'; stage: 'dispatch' | 'execute'; failure: Failure };

interface Page {
  state: QueryState;
  columns?: Column[];
  data?: unknown[][];
  nextToken: number | null;
  partialCancel: boolean;
  failure?: Failure;
  updateType?: string;
  headers: Record<string, string>;
}

interface QueryRecord {
  id: string;
  slugKey: Buffer;
  sql: string;
  session: SessionInfo;
  /** Parse result, a query for the SQL engine, or dispatch-time failure, decided at POST. */
  pending: { stmt: Stmt } | { engine: true } | { failure: Failure };
  outcome?: Outcome;
  state: QueryState;
  failure?: Failure;
  createTime: number;
  dispatchTime?: number;
  endTime?: number;
  lastHeartbeat: number;
  queuedLastToken: number;
  exec: { lastToken: number; nextToken: number | null; last?: Page };
  cursor: number;
  processedRows: number;
  waiters: Set<() => void>;
  effects?: Effects;
  updateType?: string;
  queryType: string;
}

const QUEUED_QUERY = 0;
const EXECUTING_QUERY = 1;

function makeSlug(key: Buffer, context: number, token: number): string {
  // Guava Hasher.putInt/putLong are little-endian.
  const buf = Buffer.alloc(12);
  buf.writeInt32LE(context, 0);
  buf.writeBigInt64LE(BigInt(token), 4);
  return 'y' + crypto.createHmac('sha1', key).update(buf).digest('hex');
}

function slugValid(q: QueryRecord, context: number, slug: string, token: number): boolean {
  const expected = Buffer.from(makeSlug(q.slugKey, context, token));
  const given = Buffer.from(slug);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1e6).toFixed(2)}ns`;
  if (ms < 1000) return `${ms.toFixed(2)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(2)}s`;
  const m = s / 60;
  if (m < 60) return `${m.toFixed(2)}m`;
  const h = m / 60;
  if (h < 24) return `${h.toFixed(2)}h`;
  return `${(h / 24).toFixed(2)}d`;
}

/** airlift Duration, e.g. `1s`, `250ms`, `1.50m`. */
function parseDuration(s: string | null): number | undefined {
  if (!s) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*$/.exec(s);
  if (!m) return undefined;
  const factor: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };
  return Number(m[1]) * factor[m[2]];
}

const MAX_WAIT_MS = 1000;
const REQUEST_LOG_LIMIT = 1000;
const RECEIVED_USERS_LIMIT = 10000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const MAX_QUERY_LENGTH = 1_000_000;
const TRINO_VERSION = '475';

interface AuthOk {
  ok: true;
  principal: string;
  user: string;
  impersonationDenied: boolean;
}

interface AuthFail {
  ok: false;
  status: number;
  message: string;
  challenge?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

class TrinoCoordinatorServer implements TrinoCoordinator {
  readonly receivedUsers: string[] = [];
  readonly requests: TrinoRequestLogEntry[] = [];

  private readonly server: http.Server | https.Server;
  private readonly pageRows: number;
  private readonly auth: TrinoCoordinatorAuth;
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;
  private readonly externalUrl?: string;
  private readonly clientTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly maxHistory: number;
  private readonly queries = new Map<string, QueryRecord>();
  private readonly transactions = new Map<string, number>();
  private readonly open = new Set<http.ServerResponse>();
  private readonly startedAt = Date.now();
  private readonly coordinatorId: string;
  private readonly nodeId = crypto.randomUUID();
  private queryCounter = 0;
  private fault: FaultMode = 'none';
  private purgeTimer?: NodeJS.Timeout;
  private baseUrl = '';
  private closed = false;
  /** DuckDB with the demo tables: answers the queries answeredByDemoEngine picks. */
  private engine?: DemoSqlEngine;

  private readonly presetQueryIds: string[];

  constructor(private readonly opts: TrinoCoordinatorOptions) {
    this.presetQueryIds = [...(opts.queryIds ?? [])];
    this.pageRows = Math.max(1, Math.floor(opts.pageRows ?? 1000));
    this.auth = opts.auth ?? { mode: 'none' };
    if (this.auth.mode !== 'none' && !opts.tls) {
      throw new Error(`Trino authenticates only over HTTPS: auth mode ${this.auth.mode} needs tls (over http Trino trusts X-Trino-User: mode none)`);
    }
    if (this.auth.mode === 'jwt') this.jwks = createRemoteJWKSet(new URL(this.auth.verify.jwksUri));
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

  openRequests(): number {
    return this.open.size;
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
    res.once('close', done);
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
    this.route(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        this.sendText(res, 500, err instanceof Error ? err.message : String(err));
      } else {
        res.destroy();
      }
    });
  }

  private sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    const body = Buffer.from(text, 'utf8');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
    res.end(body);
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

  // ----- authentication ------------------------------------------------------------------------------------------

  private async authenticate(req: http.IncomingMessage): Promise<AuthOk | AuthFail> {
    const headerUser = headerValue(req, 'x-trino-user');
    const authorization = headerValue(req, 'authorization');
    const basic = (): { user: string; password: string } | undefined => {
      const m = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return undefined;
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    };
    const finish = (principal: string, impersonators: string[]): AuthOk => {
      const user = headerUser ?? principal;
      return { ok: true, principal, user, impersonationDenied: user !== principal && !impersonators.includes(principal) };
    };

    const auth = this.auth;
    if (auth.mode === 'none') {
      const b = basic();
      const basicChallenge = 'Basic realm="Trino"';
      if (b) {
        if (b.password !== '') {
          return { ok: false, status: 401, message: 'Password not allowed for insecure authentication', challenge: basicChallenge };
        }
        if (b.user === '') return { ok: false, status: 401, message: 'Basic authentication or X-Trino-User must be sent', challenge: basicChallenge };
        return finish(b.user, []);
      }
      if (!headerUser) {
        return { ok: false, status: 401, message: 'Basic authentication or X-Trino-User must be sent', challenge: basicChallenge };
      }
      return finish(headerUser, []);
    }

    if (auth.mode === 'basic') {
      const challenge = 'Basic realm="Trino"';
      const b = basic();
      if (!b) return { ok: false, status: 401, message: 'Unauthorized', challenge };
      const expected = Object.prototype.hasOwnProperty.call(auth.users, b.user) ? auth.users[b.user] : undefined;
      const a = Buffer.from(b.password);
      const e = Buffer.from(expected ?? '');
      if (expected === undefined || a.length !== e.length || !crypto.timingSafeEqual(a, e)) {
        return { ok: false, status: 401, message: 'Access Denied: Invalid credentials', challenge };
      }
      return finish(b.user, auth.impersonators ?? []);
    }

    const challenge = 'Bearer realm="Trino", token_type="JWT"';
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m || !this.jwks) return { ok: false, status: 401, message: 'Unauthorized', challenge };
    try {
      const { payload } = await jwtVerify(m[1], this.jwks, { issuer: auth.verify.issuer, audience: auth.verify.audience });
      const claim = auth.principalClaim ?? 'sub';
      const principal = payload[claim];
      if (typeof principal !== 'string' || principal === '') {
        return { ok: false, status: 401, message: `Principal field ${claim} is missing or not a string`, challenge };
      }
      return finish(principal, auth.impersonators ?? []);
    } catch (err) {
      return { ok: false, status: 401, message: err instanceof Error ? err.message : 'Unauthorized', challenge };
    }
  }

  private sendAuthFailure(res: http.ServerResponse, fail: AuthFail): void {
    this.sendText(res, fail.status, fail.message, fail.challenge ? { 'WWW-Authenticate': fail.challenge } : {});
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
    const auth = await this.authenticate(req);
    if (!auth.ok) return this.sendAuthFailure(res, auth);
    if (body === '') return this.sendText(res, 400, 'SQL statement is empty');

    let session: SessionInfo;
    try {
      session = this.sessionFrom(req, auth);
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
    this.sendJson(res, 200, this.queuedResults(q, this.requestBase(req), q.queuedLastToken + 1));
  }

  private sessionFrom(req: http.IncomingMessage, auth: AuthOk): SessionInfo {
    const catalog = headerValue(req, 'x-trino-catalog');
    const schema = headerValue(req, 'x-trino-schema');
    if (schema !== undefined && catalog === undefined) throw new BadRequest('Schema is set but catalog is not');

    const systemProperties: Record<string, string> = {};
    const catalogProperties: Record<string, Record<string, string>> = {};
    for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-session'), 'X-Trino-Session', true)) {
      const dot = name.indexOf('.');
      if (dot < 0) {
        systemProperties[name] = value;
      } else {
        const cat = name.slice(0, dot);
        const prop = name.slice(dot + 1);
        if (cat === '' || prop === '' || prop.includes('.')) throw new BadRequest('Invalid X-Trino-Session header');
        (catalogProperties[cat] ??= {})[prop] = value;
      }
    }
    const preparedStatements: Record<string, string> = {};
    for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-prepared-statement'), 'X-Trino-Prepared-Statement', true)) {
      preparedStatements[javaUrlDecode(name, 'X-Trino-Prepared-Statement')] = value;
    }
    const roles: Record<string, string> = {};
    for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-role'), 'X-Trino-Role', true)) roles[name] = value;
    const resourceEstimates: Record<string, string> = {};
    for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-resource-estimate'), 'X-Trino-Resource-Estimate', false)) {
      resourceEstimates[name] = value;
    }
    const extraCredentialNames = parseNameValueList(headerValue(req, 'x-trino-extra-credential'), 'X-Trino-Extra-Credential', true).map(([name]) => name);
    const list = (name: string): string[] =>
      (headerValue(req, name) ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    const tx = headerValue(req, 'x-trino-transaction-id');
    return {
      user: auth.user,
      principal: auth.principal,
      originalUser: headerValue(req, 'x-trino-original-user'),
      source: headerValue(req, 'x-trino-source'),
      catalog: catalog?.toLowerCase(),
      schema: schema?.toLowerCase(),
      path: headerValue(req, 'x-trino-path'),
      timeZone: headerValue(req, 'x-trino-time-zone'),
      language: headerValue(req, 'x-trino-language'),
      traceToken: headerValue(req, 'x-trino-trace-token'),
      clientInfo: headerValue(req, 'x-trino-client-info'),
      clientTags: list('x-trino-client-tags'),
      clientCapabilities: list('x-trino-client-capabilities'),
      resourceEstimates,
      systemProperties,
      catalogProperties,
      preparedStatements,
      roles,
      extraCredentialNames,
      transactionId: tx === undefined || tx.toUpperCase() === 'NONE' ? undefined : tx,
      clientTransactionSupport: tx !== undefined,
      remoteUserAddress: req.socket.remoteAddress,
      userAgent: headerValue(req, 'user-agent'),
    };
  }

  // ----- results -------------------------------------------------------------------------------------------------

  private stats(q: QueryRecord, state: QueryState, queued: boolean): Record<string, unknown> {
    const now = Date.now();
    const end = q.endTime ?? now;
    const elapsed = end - q.createTime;
    const queuedTime = (q.dispatchTime ?? end) - q.createTime;
    const scheduled = !queued && q.dispatchTime !== undefined && q.outcome?.kind === 'rows';
    const total = q.outcome?.kind === 'rows' ? q.outcome.total : 0;
    const done = state === 'FINISHED' || state === 'FAILED';
    const wall = Math.max(0, end - (q.dispatchTime ?? end));
    const processedBytes = q.processedRows * 16;
    const stats: Record<string, unknown> = {
      state,
      queued,
      scheduled,
    };
    if (scheduled) {
      const pct = total === 0 ? 100 : Math.min(100, (q.processedRows * 100) / total);
      stats.progressPercentage = done ? 100 : pct;
      stats.runningPercentage = done ? 0 : 100 - pct;
    }
    Object.assign(stats, {
      nodes: scheduled ? 1 : 0,
      totalSplits: scheduled ? 1 : 0,
      queuedSplits: 0,
      runningSplits: scheduled && !done ? 1 : 0,
      completedSplits: scheduled && done ? 1 : 0,
      cpuTimeMillis: Math.floor(wall / 4),
      wallTimeMillis: wall,
      queuedTimeMillis: queuedTime,
      elapsedTimeMillis: elapsed,
      processedRows: q.processedRows,
      processedBytes,
      physicalInputBytes: processedBytes,
      physicalWrittenBytes: 0,
      peakMemoryBytes: scheduled ? Math.min(processedBytes, this.pageRows * 64) : 0,
      spilledBytes: 0,
    });
    if (scheduled) {
      stats.rootStage = {
        stageId: '0',
        state: done ? (state === 'FAILED' ? 'FAILED' : 'FINISHED') : 'RUNNING',
        done,
        nodes: 1,
        totalSplits: 1,
        queuedSplits: 0,
        runningSplits: done ? 0 : 1,
        completedSplits: done ? 1 : 0,
        cpuTimeMillis: Math.floor(wall / 4),
        wallTimeMillis: wall,
        processedRows: q.processedRows,
        processedBytes,
        physicalInputBytes: processedBytes,
        failedTasks: 0,
        coordinatorOnly: false,
        subStages: [],
      };
    }
    return stats;
  }

  private queuedResults(q: QueryRecord, base: string, nextToken: number): Record<string, unknown> {
    const out: Record<string, unknown> = { id: q.id, infoUri: `${base}/ui/query.html?${q.id}` };
    if (q.failure) {
      out.stats = this.stats(q, 'FAILED', false);
      out.error = toQueryError(q.failure);
    } else {
      out.nextUri =
        q.dispatchTime !== undefined
          ? `${base}/v1/statement/executing/${q.id}/${makeSlug(q.slugKey, EXECUTING_QUERY, 0)}/0`
          : `${base}/v1/statement/queued/${q.id}/${makeSlug(q.slugKey, QUEUED_QUERY, nextToken)}/${nextToken}`;
      out.stats = this.stats(q, 'QUEUED', true);
    }
    out.warnings = [];
    return out;
  }

  private pageResults(q: QueryRecord, base: string, page: Page): Record<string, unknown> {
    const out: Record<string, unknown> = { id: q.id, infoUri: `${base}/ui/query.html?${q.id}` };
    if (page.nextToken !== null) {
      const slug = makeSlug(q.slugKey, EXECUTING_QUERY, page.nextToken);
      if (page.partialCancel) out.partialCancelUri = `${base}/v1/statement/executing/partialCancel/${q.id}/0/${slug}/${page.nextToken}`;
      out.nextUri = `${base}/v1/statement/executing/${q.id}/${slug}/${page.nextToken}`;
    }
    if (page.columns) out.columns = page.columns;
    if (page.data && page.data.length > 0) out.data = page.data;
    out.stats = this.stats(q, page.state, false);
    if (page.failure) out.error = toQueryError(page.failure);
    out.warnings = [];
    if (page.updateType) out.updateType = page.updateType;
    return out;
  }

  // ----- query lifecycle -----------------------------------------------------------------------------------------

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
      q.outcome = this.plan(q.pending.stmt, q.session, q.sql);
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
    this.sendJson(res, 200, this.queuedResults(q, this.requestBase(req), token + 1));
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
    this.sendJson(res, 200, this.pageResults(q, base, page), page.headers);
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
    const auth = await this.authenticate(req);
    if (!auth.ok) return this.sendAuthFailure(res, auth);
    if (auth.impersonationDenied) {
      return this.sendText(res, 403, `Access Denied: User ${auth.principal} cannot impersonate user ${auth.user}`);
    }
    const base = this.requestBase(req);
    if (seg.length === 2) {
      if (method !== 'GET') return this.sendText(res, 405, 'Method Not Allowed');
      const state = url.searchParams.get('state')?.toUpperCase();
      const list = [...this.queries.values()].filter((q) => !state || q.state === state).map((q) => this.basicQueryInfo(q, base));
      return this.sendJson(res, 200, list);
    }
    const q = this.queries.get(seg[2]);
    if (seg.length === 3) {
      if (method === 'GET') {
        if (!q) return this.sendEmpty(res, 410);
        return this.sendJson(res, 200, this.queryInfo(q, base));
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

  private queryStatsJson(q: QueryRecord): Record<string, unknown> {
    const now = Date.now();
    const end = q.endTime ?? now;
    return {
      createTime: new Date(q.createTime).toISOString(),
      executionStartTime: q.dispatchTime !== undefined ? new Date(q.dispatchTime).toISOString() : undefined,
      lastHeartbeat: new Date(q.lastHeartbeat).toISOString(),
      endTime: q.endTime !== undefined ? new Date(q.endTime).toISOString() : undefined,
      elapsedTime: formatDuration(end - q.createTime),
      queuedTime: formatDuration((q.dispatchTime ?? end) - q.createTime),
      executionTime: formatDuration(q.dispatchTime !== undefined ? end - q.dispatchTime : 0),
      totalCpuTime: formatDuration(q.dispatchTime !== undefined ? (end - q.dispatchTime) / 4 : 0),
      processedInputPositions: q.processedRows,
      processedInputDataSize: `${q.processedRows * 16}B`,
      outputPositions: q.processedRows,
      outputDataSize: `${q.processedRows * 16}B`,
      progressPercentage: q.state === 'FINISHED' ? 100 : undefined,
    };
  }

  private sessionJson(q: QueryRecord): Record<string, unknown> {
    const s = q.session;
    return {
      queryId: q.id,
      transactionId: s.transactionId,
      clientTransactionSupport: s.clientTransactionSupport,
      user: s.user,
      originalUser: s.originalUser ?? s.user,
      principal: s.principal,
      groups: [],
      enabledRoles: [],
      source: s.source,
      catalog: s.catalog,
      schema: s.schema,
      path: s.path ?? '',
      timeZone: s.timeZone ?? 'UTC',
      locale: s.language ?? 'en_US',
      remoteUserAddress: s.remoteUserAddress,
      userAgent: s.userAgent,
      clientInfo: s.clientInfo,
      clientTags: s.clientTags,
      clientCapabilities: s.clientCapabilities,
      resourceEstimates: s.resourceEstimates,
      start: new Date(q.createTime).toISOString(),
      systemProperties: s.systemProperties,
      catalogProperties: s.catalogProperties,
      preparedStatements: s.preparedStatements,
      protocolName: 'trino',
      traceToken: s.traceToken,
    };
  }

  private basicQueryInfo(q: QueryRecord, base: string): Record<string, unknown> {
    return {
      queryId: q.id,
      sessionUser: q.session.user,
      sessionPrincipal: q.session.principal,
      sessionSource: q.session.source,
      resourceGroupId: ['global'],
      state: q.state,
      scheduled: q.dispatchTime !== undefined,
      self: `${base}/v1/query/${q.id}`,
      query: q.sql,
      queryStats: this.queryStatsJson(q),
      errorType: q.failure ? errorType(q.failure.name) : undefined,
      errorCode: q.failure ? { code: ERROR_CODES[q.failure.name], name: q.failure.name, type: errorType(q.failure.name) } : undefined,
      queryType: q.queryType,
    };
  }

  private queryInfo(q: QueryRecord, base: string): Record<string, unknown> {
    const e = q.effects ?? {};
    const done = q.state === 'FINISHED' || q.state === 'FAILED';
    return {
      queryId: q.id,
      session: this.sessionJson(q),
      state: q.state,
      self: `${base}/v1/query/${q.id}`,
      fieldNames: q.outcome?.kind === 'rows' ? q.outcome.source.columns.map((c) => c.name) : [],
      query: q.sql,
      queryStats: this.queryStatsJson(q),
      setCatalog: e.setCatalog,
      setSchema: e.setSchema,
      setSessionProperties: e.setSession ? { [e.setSession[0]]: e.setSession[1] } : {},
      resetSessionProperties: e.clearSession ? [e.clearSession] : [],
      setRoles: {},
      addedPreparedStatements: e.addedPrepare ? { [e.addedPrepare[0]]: e.addedPrepare[1] } : {},
      deallocatedPreparedStatements: e.deallocatedPrepare ? [e.deallocatedPrepare] : [],
      startedTransactionId: e.startedTransactionId,
      clearTransactionId: e.clearTransactionId ?? false,
      updateType: q.updateType,
      failureInfo: q.failure ? { type: q.failure.type, message: q.failure.message, suppressed: [], stack: [], errorLocation: q.failure.location } : undefined,
      errorType: q.failure ? errorType(q.failure.name) : undefined,
      errorCode: q.failure ? { code: ERROR_CODES[q.failure.name], name: q.failure.name, type: errorType(q.failure.name) } : undefined,
      warnings: [],
      inputs: [],
      referencedTables: [],
      routines: [],
      resourceGroupId: ['global'],
      queryType: q.queryType,
      retryPolicy: 'NONE',
      finalQueryInfo: done,
      pruned: false,
    };
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

  // ----- planning ------------------------------------------------------------------------------------------------

  private catalogs(): string[] {
    return ['hive', 'sandbox', 'system', 'tpch'];
  }

  private schemas(catalog: string): string[] | undefined {
    switch (catalog) {
      case 'tpch':
        return ['information_schema', 'sf1', 'tiny'];
      case 'hive':
        return ['information_schema', 'sales'];
      case 'sandbox':
        return ['gen', 'information_schema'];
      case 'system':
        return ['information_schema', 'metadata', 'runtime'];
      default:
        return undefined;
    }
  }

  /** Listed table names (the generator schema lists examples; any rows_<N>/sleep_<ms> name resolves). */
  private tableNames(catalog: string, schema: string): string[] {
    if (schema === 'information_schema') return ['columns', 'schemata', 'tables'];
    const key = `${catalog}.${schema}`;
    switch (key) {
      case 'tpch.tiny':
      case 'tpch.sf1':
        return ['nation', 'region'];
      case 'hive.sales':
        return ['orders'];
      case 'sandbox.gen':
        return ['rows_10', 'rows_1000', 'rows_1000000', 'sleep_1000'];
      case 'system.metadata':
        return ['catalogs'];
      case 'system.runtime':
        return ['nodes', 'queries'];
      default:
        return [];
    }
  }

  /** `viewer`: the session user reading it (system.runtime.queries lists only their own queries). */
  private table(catalog: string, schema: string, name: string, viewer?: string): (TableSource & { delayMs?: number }) | undefined {
    if (schema === 'information_schema') return this.informationSchema(catalog, name);
    const key = `${catalog}.${schema}`;
    if (key === 'tpch.tiny' || key === 'tpch.sf1') {
      if (name === 'nation') return nationTable;
      if (name === 'region') return regionTable;
      return undefined;
    }
    if (key === 'hive.sales') return name === 'orders' ? ordersTable : undefined;
    if (key === 'sandbox.gen') {
      let m = /^rows_(\d{1,16})$/.exec(name);
      if (m) {
        const n = Number(m[1]);
        return n <= MAX_GENERATED_ROWS ? generatorTable(n) : undefined;
      }
      m = /^sleep_(\d{1,9})$/.exec(name);
      if (m) {
        const ms = Number(m[1]);
        return { ...staticTable([column('slept_ms', 'bigint')], [[ms]]), delayMs: ms };
      }
      return undefined;
    }
    if (key === 'system.metadata' && name === 'catalogs') {
      return staticTable(
        [column('catalog_name', 'varchar'), column('connector_id', 'varchar'), column('connector_name', 'varchar')],
        this.catalogs().map((c) => [c, c, c === 'sandbox' ? 'sandbox-generator' : c]),
      );
    }
    if (key === 'system.runtime' && name === 'nodes') {
      return staticTable(
        [
          column('node_id', 'varchar'),
          column('http_uri', 'varchar'),
          column('node_version', 'varchar'),
          column('coordinator', 'boolean'),
          column('state', 'varchar'),
        ],
        [[this.nodeId, this.baseUrl, TRINO_VERSION, true, 'active']],
      );
    }
    if (key === 'system.runtime' && name === 'queries') {
      return staticTable(
        [column('query_id', 'varchar'), column('state', 'varchar'), column('user', 'varchar'), column('source', 'varchar'), column('query', 'varchar')],
        // docker/trino/rules.json's query rule (execute only): a user views their own queries, no one else's.
        [...this.queries.values()].filter((q) => q.session.user === viewer).map((q) => [q.id, q.state, q.session.user, q.session.source ?? null, q.sql]),
      );
    }
    return undefined;
  }

  private informationSchema(catalog: string, name: string): TableSource | undefined {
    const schemas = this.schemas(catalog) ?? [];
    if (name === 'schemata') {
      return staticTable(
        [column('catalog_name', 'varchar'), column('schema_name', 'varchar')],
        schemas.map((s) => [catalog, s]),
      );
    }
    if (name === 'tables') {
      const rows: unknown[][] = [];
      for (const s of schemas) for (const t of this.tableNames(catalog, s)) rows.push([catalog, s, t, 'BASE TABLE']);
      return staticTable(
        [column('table_catalog', 'varchar'), column('table_schema', 'varchar'), column('table_name', 'varchar'), column('table_type', 'varchar')],
        rows,
      );
    }
    if (name === 'columns') {
      const rows: unknown[][] = [];
      for (const s of schemas) {
        if (s === 'information_schema') continue;
        for (const t of this.tableNames(catalog, s)) {
          const src = this.table(catalog, s, t);
          src?.columns.forEach((c, i) => rows.push([catalog, s, t, c.name, i + 1, null, 'YES', c.type]));
        }
      }
      return staticTable(
        [
          column('table_catalog', 'varchar'),
          column('table_schema', 'varchar'),
          column('table_name', 'varchar'),
          column('column_name', 'varchar'),
          column('ordinal_position', 'bigint'),
          column('column_default', 'varchar'),
          column('is_nullable', 'varchar'),
          column('data_type', 'varchar'),
        ],
        rows,
      );
    }
    return undefined;
  }

  private resolveTable(
    name: QName,
    session: SessionInfo,
    sql: string,
  ): { catalog: string; schema: string; table: string; source: TableSource & { delayMs?: number } } {
    const parts = name.parts.map((p) => p.name);
    if (parts.length > 3) throw failureAt(sql, name.pos, 'SYNTAX_ERROR', `Too many dots in table name: ${parts.join('.')}`);
    const table = parts[parts.length - 1];
    const schema = parts.length >= 2 ? parts[parts.length - 2] : session.schema;
    const catalog = parts.length === 3 ? parts[0] : session.catalog;
    if (catalog === undefined) throw failureAt(sql, name.pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
    if (schema === undefined) throw failureAt(sql, name.pos, 'MISSING_SCHEMA_NAME', 'Schema must be specified when session schema is not set');
    const schemas = this.schemas(catalog);
    if (!schemas) throw failureAt(sql, name.pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
    if (!schemas.includes(schema)) throw failureAt(sql, name.pos, 'SCHEMA_NOT_FOUND', `Schema '${schema}' does not exist`);
    const source = this.table(catalog, schema, table, session.user);
    if (!source) throw failureAt(sql, name.pos, 'TABLE_NOT_FOUND', `Table '${catalog}.${schema}.${table}' does not exist`);
    return { catalog, schema, table, source };
  }

  private evalScalar(expr: Expr, session: SessionInfo, sql: string): { type: string; value: unknown } {
    switch (expr.kind) {
      case 'literal':
        return { type: expr.type, value: expr.value };
      case 'special':
        switch (expr.name) {
          case 'current_user':
            return { type: 'varchar', value: session.user };
          case 'current_catalog':
            return { type: 'varchar', value: session.catalog ?? null };
          case 'current_schema':
            return { type: 'varchar', value: session.schema ?? null };
          default:
            return { type: 'timestamp(3) with time zone', value: formatTimestamp(new Date()) };
        }
      case 'func':
        if (expr.name === 'version' && expr.args.length === 0 && !expr.star) return { type: 'varchar', value: TRINO_VERSION };
        if (expr.name === 'now' && expr.args.length === 0 && !expr.star) {
          return { type: 'timestamp(3) with time zone', value: formatTimestamp(new Date()) };
        }
        if (expr.name === 'count') throw failureAt(sql, expr.pos, 'NOT_SUPPORTED', 'count() is only supported as count(*) over a table by the sandbox coordinator');
        throw failureAt(sql, expr.pos, 'FUNCTION_NOT_FOUND', `Function '${expr.name}' not registered`);
      case 'ident':
        throw failureAt(sql, expr.pos, 'COLUMN_NOT_FOUND', `Column '${expr.name}' cannot be resolved`);
    }
  }

  private plan(stmt: Stmt, session: SessionInfo, sql: string, depth = 0): Outcome {
    const rows = (queryType: string, columns: Column[], data: unknown[][]): Outcome => ({
      kind: 'rows',
      queryType,
      source: staticTable(columns, data),
      total: data.length,
    });
    const filter = (values: string[], like?: RegExp): string[] => values.filter((v) => !like || like.test(v)).sort();
    const update = (updateType: string, effects: Effects, queryType = 'DATA_DEFINITION'): Outcome => ({ kind: 'update', queryType, updateType, effects });

    switch (stmt.kind) {
      case 'select':
        return this.planSelect(stmt, session, sql);
      case 'showCatalogs':
        return rows(
          'DESCRIBE',
          [column('Catalog', 'varchar')],
          filter(this.catalogs(), stmt.like).map((c) => [c]),
        );
      case 'showSchemas': {
        const catalog = stmt.catalog?.name ?? session.catalog;
        const pos = stmt.catalog?.pos ?? stmt.pos;
        if (catalog === undefined) throw failureAt(sql, pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        const schemas = this.schemas(catalog);
        if (!schemas) throw failureAt(sql, pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        return rows(
          'DESCRIBE',
          [column('Schema', 'varchar')],
          filter(schemas, stmt.like).map((s) => [s]),
        );
      }
      case 'showTables': {
        const parts = stmt.schema?.parts.map((p) => p.name) ?? [];
        const pos = stmt.schema?.pos ?? stmt.pos;
        if (parts.length > 2) throw failureAt(sql, pos, 'SYNTAX_ERROR', `Too many parts in schema name: ${parts.join('.')}`);
        const catalog = parts.length === 2 ? parts[0] : session.catalog;
        const schema = parts.length >= 1 ? parts[parts.length - 1] : session.schema;
        if (catalog === undefined) throw failureAt(sql, pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        if (schema === undefined) throw failureAt(sql, pos, 'MISSING_SCHEMA_NAME', 'Schema must be specified when session schema is not set');
        const schemas = this.schemas(catalog);
        if (!schemas) throw failureAt(sql, pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        if (!schemas.includes(schema)) throw failureAt(sql, pos, 'SCHEMA_NOT_FOUND', `Schema '${schema}' does not exist`);
        return rows(
          'DESCRIBE',
          [column('Table', 'varchar')],
          filter(this.tableNames(catalog, schema), stmt.like).map((t) => [t]),
        );
      }
      case 'showColumns': {
        const { source } = this.resolveTable(stmt.table, session, sql);
        return rows(
          'DESCRIBE',
          [column('Column', 'varchar'), column('Type', 'varchar'), column('Extra', 'varchar'), column('Comment', 'varchar')],
          source.columns.map((c) => [c.name, c.type, '', '']),
        );
      }
      case 'showSession': {
        const data: unknown[][] = [];
        const seen = new Set<string>();
        for (const p of KNOWN_SESSION_PROPERTIES) {
          seen.add(p.name);
          data.push([p.name, session.systemProperties[p.name] ?? p.def, p.def, p.type, p.description]);
        }
        for (const [name, value] of Object.entries(session.systemProperties)) {
          if (!seen.has(name)) data.push([name, value, '', 'varchar', 'Set by the client (not validated by the sandbox coordinator)']);
        }
        for (const [cat, props] of Object.entries(session.catalogProperties)) {
          for (const [name, value] of Object.entries(props)) {
            data.push([`${cat}.${name}`, value, '', 'varchar', 'Set by the client (not validated by the sandbox coordinator)']);
          }
        }
        const filtered = data.filter((r) => !stmt.like || stmt.like.test(String(r[0])));
        filtered.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        return rows(
          'DESCRIBE',
          [column('Name', 'varchar'), column('Value', 'varchar'), column('Default', 'varchar'), column('Type', 'varchar'), column('Description', 'varchar')],
          filtered,
        );
      }
      case 'use': {
        const catalog = stmt.catalog?.name ?? session.catalog;
        if (catalog === undefined) throw failureAt(sql, stmt.pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        const schemas = this.schemas(catalog);
        if (!schemas) throw failureAt(sql, stmt.catalog?.pos ?? stmt.pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        if (!schemas.includes(stmt.schema.name)) {
          throw failureAt(sql, stmt.pos, 'SCHEMA_NOT_FOUND', `Schema does not exist: ${catalog}.${stmt.schema.name}`);
        }
        return update('USE', { setCatalog: catalog, setSchema: stmt.schema.name });
      }
      case 'setSession':
        return update('SET SESSION', { setSession: [stmt.name, stmt.value] });
      case 'resetSession':
        return update('RESET SESSION', { clearSession: stmt.name });
      case 'prepare':
        return update('PREPARE', { addedPrepare: [stmt.name, stmt.sql] });
      case 'deallocate':
        if (!Object.prototype.hasOwnProperty.call(session.preparedStatements, stmt.name)) {
          throw failureAt(sql, stmt.pos, 'NOT_FOUND', `Prepared statement not found: ${stmt.name}`);
        }
        return update('DEALLOCATE', { deallocatedPrepare: stmt.name });
      case 'execute': {
        const prepared = Object.prototype.hasOwnProperty.call(session.preparedStatements, stmt.name) ? session.preparedStatements[stmt.name] : undefined;
        if (prepared === undefined) throw failureAt(sql, stmt.pos, 'NOT_FOUND', `Prepared statement not found: ${stmt.name}`);
        if (depth > 0) throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', 'Invalid statement type for prepared statement: EXECUTE');
        return this.plan(parseSql(prepared), session, prepared, depth + 1);
      }
      case 'startTransaction':
        // StartTransactionTask: a client that did not send X-Trino-Transaction-Id (NONE) cannot take a transaction id back.
        if (!session.clientTransactionSupport)
          throw new TrinoFailure({ name: 'INCOMPATIBLE_CLIENT', type: TRINO_EXCEPTION, message: 'Client does not support transactions' });
        if (session.transactionId) throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', 'Nested transactions not supported');
        return update('START TRANSACTION', { startedTransactionId: crypto.randomUUID() }, 'DATA_DEFINITION');
      case 'commit':
      case 'rollback':
        if (!session.transactionId) throw failureAt(sql, stmt.pos, 'NOT_IN_TRANSACTION', 'No transaction in progress');
        return update(stmt.kind === 'commit' ? 'COMMIT' : 'ROLLBACK', { clearTransactionId: true });
      case 'unsupported':
        throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', `${stmt.what} is not supported by the sandbox Trino coordinator`);
    }
  }

  private planSelect(stmt: Extract<Stmt, { kind: 'select' }>, session: SessionInfo, sql: string): Outcome {
    const limitOf = (n: number): number => (stmt.limit === undefined ? n : Math.min(n, stmt.limit));
    if (!stmt.from) {
      const star = stmt.items.find((i) => i.kind === 'star');
      if (star) throw failureAt(sql, star.pos, 'GENERIC_USER_ERROR', 'SELECT * not allowed in queries without FROM clause');
      const columns: Column[] = [];
      const row: unknown[] = [];
      stmt.items.forEach((item, i) => {
        if (item.kind !== 'expr') return;
        const v = this.evalScalar(item.expr, session, sql);
        columns.push(column(item.alias ?? `_col${i}`, v.type));
        row.push(v.value);
      });
      const data = limitOf(1) === 1 ? [row] : [];
      return { kind: 'rows', queryType: 'SELECT', source: staticTable(columns, data), total: data.length };
    }

    const { source } = this.resolveTable(stmt.from, session, sql);
    const hasCount = stmt.items.some((i) => i.kind === 'expr' && i.expr.kind === 'func' && i.expr.name === 'count');
    if (hasCount) {
      const columns: Column[] = [];
      const row: unknown[] = [];
      stmt.items.forEach((item, i) => {
        if (item.kind === 'star') throw failureAt(sql, item.pos, 'EXPRESSION_NOT_AGGREGATE', "'*' must be an aggregate expression or appear in GROUP BY clause");
        const e = item.expr;
        if (e.kind === 'func' && e.name === 'count') {
          if (!e.star) throw failureAt(sql, e.pos, 'NOT_SUPPORTED', 'Only count(*) is supported by the sandbox Trino coordinator');
          columns.push(column(item.alias ?? `_col${i}`, 'bigint'));
          row.push(source.rowCount);
        } else if (e.kind === 'ident') {
          if (!source.columns.some((c) => c.name === e.name)) throw failureAt(sql, e.pos, 'COLUMN_NOT_FOUND', `Column '${e.name}' cannot be resolved`);
          throw failureAt(sql, e.pos, 'EXPRESSION_NOT_AGGREGATE', `'${e.name}' must be an aggregate expression or appear in GROUP BY clause`);
        } else {
          const v = this.evalScalar(e, session, sql);
          columns.push(column(item.alias ?? `_col${i}`, v.type));
          row.push(v.value);
        }
      });
      const data = limitOf(1) === 1 ? [row] : [];
      return { kind: 'rows', queryType: 'SELECT', source: staticTable(columns, data), total: data.length, delayMs: source.delayMs };
    }

    // Projection: each output column reads a source column index or is a constant.
    const columns: Column[] = [];
    const getters: Array<(r: unknown[]) => unknown> = [];
    stmt.items.forEach((item, i) => {
      if (item.kind === 'star') {
        source.columns.forEach((c, idx) => {
          columns.push(c);
          getters.push((r) => r[idx]);
        });
        return;
      }
      const e = item.expr;
      if (e.kind === 'ident') {
        const idx = source.columns.findIndex((c) => c.name === e.name);
        if (idx < 0) throw failureAt(sql, e.pos, 'COLUMN_NOT_FOUND', `Column '${e.name}' cannot be resolved`);
        columns.push(column(item.alias ?? source.columns[idx].name, source.columns[idx].type));
        getters.push((r) => r[idx]);
        return;
      }
      const v = this.evalScalar(e, session, sql);
      columns.push(column(item.alias ?? `_col${i}`, v.type));
      getters.push(() => v.value);
    });
    const projected: TableSource = {
      columns,
      rowCount: source.rowCount,
      row: (index) => {
        const r = source.row(index);
        return getters.map((g) => g(r));
      },
    };
    return { kind: 'rows', queryType: 'SELECT', source: projected, total: limitOf(source.rowCount), delayMs: source.delayMs };
  }
}

function queryTypeOf(stmt: Stmt): string {
  switch (stmt.kind) {
    case 'select':
    case 'execute':
      return 'SELECT';
    case 'showCatalogs':
    case 'showSchemas':
    case 'showTables':
    case 'showColumns':
    case 'showSession':
      return 'DESCRIBE';
    default:
      return 'DATA_DEFINITION';
  }
}

function effectHeaders(e: Effects): Record<string, string> {
  const h: Record<string, string> = {};
  if (e.setCatalog !== undefined) h['X-Trino-Set-Catalog'] = e.setCatalog;
  if (e.setSchema !== undefined) h['X-Trino-Set-Schema'] = e.setSchema;
  if (e.setSession) h['X-Trino-Set-Session'] = `${e.setSession[0]}=${javaUrlEncode(e.setSession[1])}`;
  if (e.clearSession !== undefined) h['X-Trino-Clear-Session'] = e.clearSession;
  if (e.addedPrepare) h['X-Trino-Added-Prepare'] = `${javaUrlEncode(e.addedPrepare[0])}=${javaUrlEncode(e.addedPrepare[1])}`;
  if (e.deallocatedPrepare !== undefined) h['X-Trino-Deallocated-Prepare'] = javaUrlEncode(e.deallocatedPrepare);
  if (e.startedTransactionId !== undefined) h['X-Trino-Started-Transaction-Id'] = e.startedTransactionId;
  if (e.clearTransactionId) h['X-Trino-Clear-Transaction-Id'] = 'true';
  return h;
}

/** Trino text form of a timestamp(3) with time zone; the sandbox always answers in UTC. */
function formatTimestamp(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC`;
}
