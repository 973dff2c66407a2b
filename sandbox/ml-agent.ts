/**
 * ML-Agent emulator: the catalog-browsing and workflow API the BFF fronts, as a real HTTP server
 * on 127.0.0.1 with FastAPI-shaped errors (`{"detail": ...}`).
 *
 * Routes (every one needs `Authorization: Bearer <jwt>` verified with jose against `verify`:
 * JWKS signature, exact `iss`, `aud` containing `verify.audience`, `exp`/`nbf`; otherwise
 * 401 `{"detail": "..."}` with `WWW-Authenticate: Bearer`):
 *   GET  /trino/catalogs                    {"catalogs": [...]}   SHOW CATALOGS
 *   GET  /trino/schemas/{catalog}           {"schemas": [...]}    SHOW SCHEMAS FROM <catalog>
 *   GET  /trino/tables/{catalog}/{schema}   {"tables": [...]}     SHOW TABLES FROM <catalog>.<schema>
 *   POST /run-workflow-trino                {catalog, schema, table, workflow, parameters?, email}
 *                                           or {..., submittedBy: {type: "service_account", clientId}}
 *        -> {runId, status, workflow, table: "c.s.t", submittedBy: email | {type, clientId}}; the table must exist
 *        (checked with SHOW TABLES FROM c.s); workflows in SYNC_WORKFLOWS answer `COMPLETED`,
 *        every other workflow `SUBMITTED`. Invalid bodies -> 422 FastAPI validation errors.
 *
 * The listings really query the Trino coordinator at `trinoUrl` over the Trino client protocol:
 * `POST /v1/statement` with the SQL, then `GET nextUri` until there is none, collecting `data`.
 * Every request carries `X-Trino-User` = the verified token's `preferred_username` (so the
 * coordinator sees the real user) and `X-Trino-Source: ml-agent`; the bearer token is never
 * forwarded to Trino. HTTP 502/503/504 from Trino are retried (protocol rule); identifiers are
 * sent unquoted when they are plain (`[A-Za-z_][A-Za-z0-9_]*`), double-quoted otherwise.
 *
 * Trino failures map to: query error CATALOG_NOT_FOUND / SCHEMA_NOT_FOUND / TABLE_NOT_FOUND (or a
 * message saying "not found" / "does not exist") -> 404 `{"detail": message}`; PERMISSION_DENIED
 * ("Access Denied: ...") -> 403 `{"detail": message}`; anything else (other query errors, non-200
 * answers, invalid JSON, connection errors, `trinoTimeoutMs` exceeded) -> 502 `{"error": message}`.
 * A query abandoned after it started is cancelled with `DELETE nextUri`.
 */
import * as http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { BodyTooLarge, closeServer, listen, readBody, sendJson } from './http-server';
import type { FaultMode, SandboxServer, TokenVerification } from './types';
import { answerAfter } from './answer-delay';

export const SYNC_WORKFLOWS = ['profile', 'preview'];

export interface RecordedRequest {
  method: string;
  /** Request target as received: path plus query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Request body as text, only when the request had one. */
  body?: string;
}

export interface MlAgentIdentity {
  sub?: string;
  preferred_username?: string;
  aud?: string | string[];
  azp?: string;
  email?: string;
}

export interface MlAgentRun {
  runId: string;
  status: 'SUBMITTED' | 'COMPLETED';
  workflow: string;
  table: string;
  /** A user's email, or a service account's client id. */
  submittedBy: string | ServiceAccountSubmitter;
}

export interface ServiceAccountSubmitter {
  type: 'service_account';
  clientId: string;
}

export interface MlAgentOptions {
  port?: number;
  verify: TokenVerification;
  /** Base URL of the Trino coordinator, e.g. http://127.0.0.1:8080 (http only). */
  trinoUrl: string;
  /** Budget for one whole Trino query (all its requests). Default 10000 ms. */
  trinoTimeoutMs?: number;
}

export interface MlAgentEmulator extends SandboxServer {
  setFault(mode: FaultMode): void;
  /** Every answer waits this long first (0: none); a request closed meanwhile is never answered. */
  setAnswerDelayMs(ms: number): void;
  /** Every request that reached the server (bounded to the last MAX_LOG). */
  readonly requests: RecordedRequest[];
  /** Identity of the last request whose token verified. */
  readonly lastIdentity: MlAgentIdentity | undefined;
  /** Workflow runs accepted so far, with the parameters they were submitted with. */
  readonly runs: Array<MlAgentRun & { parameters: Record<string, unknown>; user: string }>;
  /** Requests currently being handled (a hanging request counts until its client goes away). */
  openRequests(): number;
  clearRequests(): void;
}

const MAX_LOG = 500;
const MAX_BODY_BYTES = 1024 * 1024;
const NOT_FOUND_ERRORS = new Set(['CATALOG_NOT_FOUND', 'SCHEMA_NOT_FOUND', 'TABLE_NOT_FOUND']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

export async function startMlAgent(opts: MlAgentOptions): Promise<MlAgentEmulator> {
  const trinoBase = new URL(opts.trinoUrl);
  if (trinoBase.protocol !== 'http:') throw new Error('ml-agent emulator: trinoUrl must be http://');
  const trinoTimeoutMs = opts.trinoTimeoutMs ?? 10_000;
  const jwks = createRemoteJWKSet(new URL(opts.verify.jwksUri));
  let fault: FaultMode = 'none';
  let answerDelayMs = 0;
  let open = 0;
  let lastIdentity: MlAgentIdentity | undefined;
  const requests: RecordedRequest[] = [];
  const runs: Array<MlAgentRun & { parameters: Record<string, unknown>; user: string }> = [];

  async function authenticate(req: http.IncomingMessage): Promise<{ user: string; payload: JWTPayload }> {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new HttpError(401, { detail: 'Not authenticated' });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1], jwks, {
        issuer: opts.verify.issuer,
        audience: opts.verify.audience,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384'],
      }));
    } catch (err) {
      throw new HttpError(401, { detail: tokenErrorDetail(err) });
    }
    lastIdentity = {
      sub: typeof payload.sub === 'string' ? payload.sub : undefined,
      preferred_username: typeof payload.preferred_username === 'string' ? payload.preferred_username : undefined,
      aud: payload.aud,
      azp: typeof payload.azp === 'string' ? payload.azp : undefined,
      email: typeof payload.email === 'string' ? payload.email : undefined,
    };
    const user = lastIdentity.preferred_username;
    if (!user) throw new HttpError(403, { detail: 'Token has no preferred_username claim' });
    return { user, payload };
  }

  async function firstColumn(sql: string, user: string): Promise<string[]> {
    const rows = await runTrinoQuery(trinoBase, sql, user, trinoTimeoutMs);
    return rows.map((row) => String(row[0]));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const segments = path
      .split('/')
      .filter((s) => s.length > 0)
      .map(safeDecode);
    if (segments.some((s) => s === undefined)) return sendJson(res, 404, { detail: 'Not Found' });
    const seg = segments as string[];

    type Route = 'catalogs' | 'schemas' | 'tables' | 'run';
    let route: Route | undefined;
    let expected = 'GET';
    if (seg[0] === 'trino' && seg[1] === 'catalogs' && seg.length === 2) route = 'catalogs';
    else if (seg[0] === 'trino' && seg[1] === 'schemas' && seg.length === 3) route = 'schemas';
    else if (seg[0] === 'trino' && seg[1] === 'tables' && seg.length === 4) route = 'tables';
    else if (seg[0] === 'run-workflow-trino' && seg.length === 1) {
      route = 'run';
      expected = 'POST';
    }
    if (!route) return sendJson(res, 404, { detail: 'Not Found' });
    if (method !== expected) return sendJson(res, 405, { detail: 'Method Not Allowed' });

    const { user } = await authenticate(req);

    switch (route) {
      case 'catalogs':
        return sendJson(res, 200, { catalogs: await firstColumn('SHOW CATALOGS', user) });
      case 'schemas':
        return sendJson(res, 200, { schemas: await firstColumn(`SHOW SCHEMAS FROM ${ident(seg[2])}`, user) });
      case 'tables':
        return sendJson(res, 200, {
          tables: await firstColumn(`SHOW TABLES FROM ${ident(seg[2])}.${ident(seg[3])}`, user),
        });
      case 'run': {
        const input = parseWorkflowBody(body);
        const tables = await firstColumn(`SHOW TABLES FROM ${ident(input.catalog)}.${ident(input.schema)}`, user);
        const qualified = `${input.catalog}.${input.schema}.${input.table}`;
        if (!tables.includes(input.table) && !tables.includes(input.table.toLowerCase())) {
          throw new HttpError(404, { detail: `Table '${qualified}' does not exist` });
        }
        const run: MlAgentRun = {
          runId: `run-${randomUUID()}`,
          status: SYNC_WORKFLOWS.includes(input.workflow) ? 'COMPLETED' : 'SUBMITTED',
          workflow: input.workflow,
          table: qualified,
          submittedBy: input.submittedBy,
        };
        runs.push({ ...run, parameters: input.parameters, user });
        if (runs.length > MAX_LOG) runs.splice(0, runs.length - MAX_LOG);
        return sendJson(res, 200, run);
      }
    }
  }

  const server = http.createServer((req, res) => {
    open += 1;
    let counted = true;
    res.on('close', () => {
      if (counted) {
        counted = false;
        open -= 1;
      }
    });
    readBody(req, MAX_BODY_BYTES)
      .then((body) => {
        const entry: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } };
        if (body.length > 0) entry.body = body;
        requests.push(entry);
        if (requests.length > MAX_LOG) requests.splice(0, requests.length - MAX_LOG);
        if (applyFault(fault, req, res)) return;
        if (answerDelayMs > 0) return answerAfter(res, answerDelayMs).then((alive) => (alive ? handle(req, res, body) : undefined));
        return handle(req, res, body);
      })
      .catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof BodyTooLarge) return sendJson(res, 413, { detail: 'Request body too large' });
        if (err instanceof HttpError) {
          const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {};
          return sendJson(res, err.status, err.body, headers);
        }
        sendJson(res, 502, { error: `Trino request failed: ${err instanceof Error ? err.message : String(err)}` });
      });
  });

  const url = await listen(server, opts.port, 'ml-agent');

  return {
    url,
    get requests() {
      return requests;
    },
    get lastIdentity() {
      return lastIdentity;
    },
    get runs() {
      return runs;
    },
    setFault(mode: FaultMode) {
      fault = mode;
    },
    setAnswerDelayMs(ms: number) {
      answerDelayMs = Math.max(0, ms);
    },
    openRequests: () => open,
    clearRequests() {
      requests.length = 0;
    },
    close: () => closeServer(server),
  };
}

interface WorkflowInput {
  catalog: string;
  schema: string;
  table: string;
  workflow: string;
  parameters: Record<string, unknown>;
  submittedBy: string | ServiceAccountSubmitter;
}

/** Validates the workflow body; throws a FastAPI-shaped 422 listing every problem. */
function parseWorkflowBody(body: string): WorkflowInput {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new HttpError(422, {
      detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: String(err) } }],
    });
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(422, {
      detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: value }],
    });
  }
  const v = value as Record<string, unknown>;
  const problems: Array<Record<string, unknown>> = [];
  // The submitter: a user's email, or (instead) a service account's {type: "service_account", clientId}.
  const sa = v.submittedBy as Record<string, unknown> | undefined;
  const serviceAccount = v.email === undefined && sa !== undefined;
  if (serviceAccount && (typeof sa !== 'object' || sa === null || sa.type !== 'service_account' || typeof sa.clientId !== 'string' || sa.clientId.length === 0)) {
    problems.push({ type: 'model_type', loc: ['body', 'submittedBy'], msg: 'Input should be {"type": "service_account", "clientId": <string>}', input: sa });
  }
  for (const field of ['catalog', 'schema', 'table', 'workflow', ...(serviceAccount ? [] : ['email' as const])] as const) {
    const x = v[field];
    if (x === undefined || x === null) {
      problems.push({ type: 'missing', loc: ['body', field], msg: 'Field required', input: v });
    } else if (typeof x !== 'string' || x.length === 0) {
      problems.push({ type: 'string_type', loc: ['body', field], msg: 'Input should be a non-empty string', input: x });
    }
  }
  if (typeof v.email === 'string' && v.email.length > 0 && !/^[^@\s]+@[^@\s]+$/.test(v.email)) {
    problems.push({
      type: 'value_error',
      loc: ['body', 'email'],
      msg: 'value is not a valid email address: An email address must have an @-sign.',
      input: v.email,
    });
  }
  const params = v.parameters;
  if (params !== undefined && params !== null && (typeof params !== 'object' || Array.isArray(params))) {
    problems.push({ type: 'dict_type', loc: ['body', 'parameters'], msg: 'Input should be a valid dictionary', input: params });
  }
  if (problems.length > 0) throw new HttpError(422, { detail: problems });
  return {
    catalog: v.catalog as string,
    schema: v.schema as string,
    table: v.table as string,
    workflow: v.workflow as string,
    parameters: (params as Record<string, unknown> | undefined | null) ?? {},
    submittedBy: serviceAccount ? { type: 'service_account', clientId: String(sa.clientId) } : (v.email as string),
  };
}

function tokenErrorDetail(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown } | null)?.claim;
  if (code === 'ERR_JWT_EXPIRED') return 'Token has expired';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud') return 'Invalid audience';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iss') return 'Invalid issuer';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return `Invalid token claim: ${String(claim)}`;
  if (code === 'ERR_JWKS_NO_MATCHING_KEY') return 'Invalid token: unknown signing key';
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC') return 'Invalid token: signing keys unavailable';
  return 'Invalid token';
}

/** A Trino identifier as SQL: plain names unquoted, anything else double-quoted with `"` doubled. */
function ident(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

// ---------------------------------------------------------------------------------------------
// Trino client protocol (POST /v1/statement, follow nextUri until absent).

interface TrinoResults {
  id?: string;
  nextUri?: string;
  data?: unknown[][];
  error?: { message?: string; errorName?: string; errorType?: string };
}

async function runTrinoQuery(base: URL, sql: string, user: string, timeoutMs: number): Promise<unknown[][]> {
  const deadline = Date.now() + timeoutMs;
  const headers = {
    'x-trino-user': user,
    'x-trino-source': 'ml-agent',
    'user-agent': 'ml-agent-sandbox',
  };
  const rows: unknown[][] = [];
  let nextUri: string | undefined;
  try {
    let page = await trinoCall('POST', new URL('/v1/statement', base), { ...headers, 'content-type': 'text/plain' }, sql, deadline);
    for (let i = 0; ; i += 1) {
      if (page.error) throw trinoQueryFailure(page.error);
      if (Array.isArray(page.data)) rows.push(...page.data);
      nextUri = page.nextUri;
      if (!nextUri) return rows;
      if (i > 100_000) throw new Error('Trino query did not finish');
      page = await trinoCall('GET', new URL(nextUri, base), headers, undefined, deadline);
    }
  } catch (err) {
    if (nextUri) cancelQuietly(nextUri, base, headers);
    throw err;
  }
}

function trinoQueryFailure(error: NonNullable<TrinoResults['error']>): HttpError {
  const message = error.message ?? 'Query failed';
  const name = error.errorName ?? '';
  if (NOT_FOUND_ERRORS.has(name) || /not found|does not exist/i.test(message)) {
    return new HttpError(404, { detail: message });
  }
  if (name === 'PERMISSION_DENIED' || /^Access Denied/i.test(message)) {
    return new HttpError(403, { detail: message });
  }
  return new HttpError(502, { error: `Trino query failed: ${message}` });
}

async function trinoCall(method: 'GET' | 'POST', url: URL, headers: Record<string, string>, body: string | undefined, deadline: number): Promise<TrinoResults> {
  if (url.protocol !== 'http:') throw new HttpError(502, { error: `Trino nextUri is not http: ${url.href}` });
  for (let attempt = 0; ; attempt += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new HttpError(502, { error: 'Trino did not answer in time' });
    const answer = await httpRequest(method, url, headers, body, remaining);
    if ([502, 503, 504].includes(answer.status) && attempt < 5) {
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 50)));
      continue;
    }
    if (answer.status !== 200) {
      throw new HttpError(502, { error: `Trino answered HTTP ${answer.status}: ${answer.text.slice(0, 200)}` });
    }
    try {
      const parsed = JSON.parse(answer.text) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      return parsed as TrinoResults;
    } catch {
      throw new HttpError(502, { error: 'Trino answered with invalid JSON' });
    }
  }
}

function httpRequest(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(new HttpError(502, { error: `Trino connection failed: ${err.message}` }));
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error('timeout'));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      const reason = err.message === 'timeout' ? 'Trino did not answer in time' : `Trino connection failed: ${err.message}`;
      reject(new HttpError(502, { error: reason }));
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function cancelQuietly(nextUri: string, base: URL, headers: Record<string, string>): void {
  let url: URL;
  try {
    url = new URL(nextUri, base);
  } catch {
    return;
  }
  if (url.protocol !== 'http:') return;
  const req = http.request(url, { method: 'DELETE', headers });
  req.setTimeout(2000, () => req.destroy());
  req.on('error', () => undefined);
  req.on('response', (res) => res.resume());
  req.end();
}

// ---------------------------------------------------------------------------------------------

function applyFault(mode: FaultMode, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  switch (mode) {
    case 'none':
      return false;
    case 'hang':
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'malformed':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"catalogs": ["tpch", ');
      return true;
    case 'error500':
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '21' });
      res.end('Internal Server Error');
      return true;
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
