/**
 * Trino Gateway emulator: the gateway's administration REST API (trinodb/trino-gateway
 * GatewayResource, HaGatewayResource, GatewayWebAppResource) on a real HTTP server on 127.0.0.1.
 * The query-proxy side of the gateway is not emulated (the Trino coordinator emulator stands in
 * for it); this server only answers the backend and routing-rule administration routes.
 *
 * Routes and the role each needs (as `@RolesAllowed` in the real gateway):
 *   GET  /gateway                                  API   "ok"
 *   GET  /gateway/backend/all | /active            API   JSON array of backends
 *   POST /gateway/backend/modify/add | /update     API   backend JSON -> 200 + backend JSON
 *   POST /gateway/backend/modify/delete            API   body = the raw backend name -> 200, empty
 *   POST /gateway/backend/activate/{name}          API   200, empty; unknown -> 404 text/plain
 *   POST /gateway/backend/deactivate/{name}        API   idem
 *   GET  /webapp/getRoutingRules                   ADMIN {"code":200,"msg":"Successful.","data":[rules]}
 *   POST /webapp/updateRoutingRules                ADMIN RoutingRule JSON, replaced by name -> envelope with all rules
 *
 * Authentication (the real ChainedAuthFilter): with neither `verify` nor `basicUsers` configured
 * the gateway has no `authentication:` section, so every caller is anonymous with the privileges
 * ADMIN_USER_API (NoopFilter). Otherwise the filters are tried in order and the first that
 * succeeds wins:
 *   1. `Authorization: Bearer <jwt>` (only when `verify` is set): RS256/ES256 signature checked
 *      against `verify.jwksUri`, `iss` must equal `verify.issuer`, `aud` must contain
 *      `verify.audience`, `exp`/`nbf` checked. User name = `preferred_username`, else `sub`.
 *   2. `Authorization: Basic` checked against `basicUsers` by plain comparison (presetUsers).
 * When every filter fails the answer is HTTP 403 with the text `Authentication error`.
 *
 * Privileges of a verified token (documented choice, the real gateway reads a configured flat
 * claim): when `privilegesField` is set the gateway behaves exactly like the real one with
 * `oauth.privilegesField`: that top-level claim (a string, or a list of strings joined with `_`)
 * is the privileges string, and a token without it fails authentication. Otherwise the roles in
 * `realm_access.roles` and in every `resource_access.<client>.roles` are read: a token holding
 * the role `adminRoleClaim` (default `ADMIN`) gets `ADMIN_USER_API`; any other verified token
 * gets `USER_API` (backend API yes, routing rules no). Basic users get their configured
 * `privileges` string.
 *
 * Authorization (the real LbAuthorizer): role ADMIN ⇔ privileges fully match the `authorization.admin`
 * pattern (default `(.*)ADMIN(.*)`), USER ⇔ `user` (`(.*)USER(.*)`), API ⇔ `api` (`(.*)API(.*)`);
 * test/platform/trino-gateway.spec.ts starts it with docker/trino-gateway/config.yaml's. A missing role is reported the way the real
 * AuthorizedExceptionMapper does: HTTP **200** with `{"code":401,"msg":"Unauthorized"}`.
 *
 * Deviations from the real gateway: plain HTTP (the real one authenticates only over HTTPS);
 * the token's `aud` is always checked (the real one checks it only when `audiences` is set, and
 * compares `iss` with the token's own `iss`); no form login / self-signed tokens / LDAP / cookies;
 * the 401 envelope omits `"data":null`; backend bodies without `name` or `proxyTo` get a 400
 * (Dropwizard `Unable to process JSON` shape) where the real one fails with a 500; state is kept
 * in memory, not in a database.
 */
import * as http from 'node:http';
import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { BodyTooLarge, closeServer, listen, readBody, sendJson, sendText } from './http-server';
import type { FaultMode, SandboxServer, TokenVerification } from './types';
import { answerAfter } from './answer-delay';

export interface TrinoGatewayBackend {
  name: string;
  proxyTo: string;
  active: boolean;
  routingGroup: string;
  externalUrl: string;
}

export interface TrinoGatewayRoutingRule {
  name: string;
  description: string;
  priority: number;
  actions: string[];
  condition: string;
}

export interface RecordedRequest {
  method: string;
  /** Request target as received: path plus query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Request body as text, only when the request had one. */
  body?: string;
}

export interface TrinoGatewayPrincipal {
  name: string;
  privileges: string;
  via: 'bearer' | 'basic' | 'noop';
}

export interface TrinoGatewayOptions {
  port?: number;
  /** Enables Bearer (OAuth) authentication of the API against this issuer and audience. */
  verify?: TokenVerification;
  /** Role (realm role or any client role) that makes a verified token ADMIN_USER_API. Default `ADMIN`. */
  adminRoleClaim?: string;
  /** Real-gateway `oauth.privilegesField`: read privileges from this flat claim instead of the roles. */
  privilegesField?: string;
  /**
   * The real gateway's `authorization` section: the regular expression the privileges string must match
   * whole (Java's String.matches) for each role. Default: `(.*)ADMIN(.*)`, `(.*)USER(.*)`, `(.*)API(.*)`.
   */
  authorization?: { admin: string; user: string; api: string };
  /** presetUsers for HTTP Basic, plain comparison, e.g. `{ops: {password: 's3cret', privileges: 'ADMIN_USER_API'}}`. */
  basicUsers?: Record<string, { password: string; privileges: string }>;
  /** Initial backends (default: two seeded backends, see SEED_BACKENDS). */
  backends?: Array<Partial<TrinoGatewayBackend> & { name: string; proxyTo: string }>;
  /** Initial routing rules (default: two seeded rules, see SEED_ROUTING_RULES). */
  routingRules?: TrinoGatewayRoutingRule[];
}

export interface TrinoGatewayEmulator extends SandboxServer {
  setFault(mode: FaultMode): void;
  /** Every answer waits this long first (0: none); a request closed meanwhile is never answered. */
  setAnswerDelayMs(ms: number): void;
  /** Every request that reached the server (bounded to the last MAX_LOG). */
  readonly requests: RecordedRequest[];
  /** Every Authorization header value received, in order (bounded to the last MAX_LOG). */
  readonly authorizationHeaders: string[];
  /** Principal of the last request that passed authentication, or undefined. */
  readonly lastPrincipal: TrinoGatewayPrincipal | undefined;
  /** Requests currently being handled (a hanging request counts until its client goes away). */
  openRequests(): number;
  /** Snapshot of the current backends and routing rules. */
  backends(): TrinoGatewayBackend[];
  routingRules(): TrinoGatewayRoutingRule[];
  /** Forget the request log and the recorded Authorization headers. */
  clearRequests(): void;
}

export const SEED_BACKENDS: TrinoGatewayBackend[] = [
  {
    name: 'trino-adhoc-1',
    proxyTo: 'http://127.0.0.1:8081',
    active: true,
    routingGroup: 'adhoc',
    externalUrl: 'http://127.0.0.1:8081',
  },
  {
    name: 'trino-etl-1',
    proxyTo: 'http://127.0.0.1:8082',
    active: false,
    routingGroup: 'etl',
    externalUrl: 'http://trino-etl-1.sandbox.local:8082',
  },
];

export const SEED_ROUTING_RULES: TrinoGatewayRoutingRule[] = [
  {
    name: 'airflow',
    description: 'Route Airflow queries to the etl group',
    priority: 1,
    actions: ['result.put("routingGroup", "etl")'],
    condition: 'request.getHeader("X-Trino-Source") == "airflow"',
  },
  {
    name: 'bi-dashboards',
    description: 'Route BI dashboard queries to the adhoc group',
    priority: 0,
    actions: ['result.put("routingGroup", "adhoc")'],
    condition: 'request.getHeader("X-Trino-Client-Tags") contains "bi"',
  },
];

const MAX_LOG = 500;
const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_AUTHORIZATION = { admin: '(.*)ADMIN(.*)', user: '(.*)USER(.*)', api: '(.*)API(.*)' };
type Role = 'ADMIN' | 'USER' | 'API';

class AuthFailure extends Error {}

export async function startTrinoGateway(opts: TrinoGatewayOptions = {}): Promise<TrinoGatewayEmulator> {
  const adminRole = opts.adminRoleClaim ?? 'ADMIN';
  const authorization = opts.authorization ?? DEFAULT_AUTHORIZATION;
  const rolePatterns: Record<Role, RegExp> = {
    ADMIN: new RegExp(`^(?:${authorization.admin})$`),
    USER: new RegExp(`^(?:${authorization.user})$`),
    API: new RegExp(`^(?:${authorization.api})$`),
  };
  const jwks = opts.verify ? createRemoteJWKSet(new URL(opts.verify.jwksUri)) : undefined;
  const basicUsers = opts.basicUsers;
  const authEnabled = Boolean(opts.verify) || Boolean(basicUsers && Object.keys(basicUsers).length > 0);

  let backends: TrinoGatewayBackend[] = (opts.backends ?? SEED_BACKENDS).map((b) => normalizeBackend(b, true));
  let rules: TrinoGatewayRoutingRule[] = (opts.routingRules ?? SEED_ROUTING_RULES).map((r) => ({
    ...r,
    actions: [...r.actions],
  }));
  let fault: FaultMode = 'none';
  let answerDelayMs = 0;
  let open = 0;
  let lastPrincipal: TrinoGatewayPrincipal | undefined;
  const requests: RecordedRequest[] = [];
  const authorizationHeaders: string[] = [];

  function pushBounded<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > MAX_LOG) list.splice(0, list.length - MAX_LOG);
  }

  async function authenticate(req: http.IncomingMessage): Promise<TrinoGatewayPrincipal> {
    if (!authEnabled) return { name: 'anonymous', privileges: 'ADMIN_USER_API', via: 'noop' };
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer && opts.verify && jwks) {
      try {
        const { payload } = await jwtVerify(bearer[1], jwks, {
          issuer: opts.verify.issuer,
          audience: opts.verify.audience,
          algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384'],
        });
        return principalFromToken(payload);
      } catch {
        // Suppressed like the real ChainedAuthFilter: fall through to the next filter.
      }
    }
    const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (basic && basicUsers) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        const preset = Object.prototype.hasOwnProperty.call(basicUsers, user) ? basicUsers[user] : undefined;
        if (preset && safeEqual(preset.password, password)) {
          return { name: user, privileges: preset.privileges, via: 'basic' };
        }
      }
    }
    throw new AuthFailure('Authentication error');
  }

  function principalFromToken(payload: JWTPayload): TrinoGatewayPrincipal {
    const name = typeof payload.preferred_username === 'string' ? payload.preferred_username : typeof payload.sub === 'string' ? payload.sub : undefined;
    if (!name) throw new AuthFailure('UserId field does not exist');
    if (opts.privilegesField) {
      const claim = (payload as Record<string, unknown>)[opts.privilegesField];
      if (Array.isArray(claim) && claim.every((c) => typeof c === 'string')) {
        return { name, privileges: claim.join('_'), via: 'bearer' };
      }
      if (typeof claim === 'string') return { name, privileges: claim, via: 'bearer' };
      throw new AuthFailure('Privileges field does not exist');
    }
    const roles = tokenRoles(payload);
    return { name, privileges: roles.has(adminRole) ? 'ADMIN_USER_API' : 'USER_API', via: 'bearer' };
  }

  function hasRole(principal: TrinoGatewayPrincipal, role: Role): boolean {
    return rolePatterns[role].test(principal.privileges);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;

    const route = matchRoute(method, path);
    if (route === 'method-not-allowed') return sendText(res, 405, 'HTTP 405 Method Not Allowed');
    if (!route) return sendText(res, 404, 'HTTP 404 Not Found');

    let principal: TrinoGatewayPrincipal;
    try {
      principal = await authenticate(req);
    } catch (err) {
      if (err instanceof AuthFailure) return sendText(res, 403, 'Authentication error');
      throw err;
    }
    lastPrincipal = principal;
    if (!hasRole(principal, route.role)) {
      return sendJson(res, 200, { code: 401, msg: 'Unauthorized' });
    }

    switch (route.action) {
      case 'ok':
        return sendText(res, 200, 'ok');
      case 'all':
        return sendJson(res, 200, backends);
      case 'active':
        return sendJson(
          res,
          200,
          backends.filter((b) => b.active),
        );
      case 'add':
      case 'update': {
        const parsed = parseJson(body);
        const input = parsed.ok ? asBackendInput(parsed.value) : undefined;
        if (!input) return sendJson(res, 400, { code: 400, message: 'Unable to process JSON' });
        const stored = normalizeBackend(input, true);
        const index = backends.findIndex((b) => b.name === stored.name);
        if (route.action === 'add') {
          if (index >= 0) {
            // The real gateway hits the database's unique key on name and answers a Dropwizard 500.
            return sendJson(res, 500, {
              code: 500,
              message: `There was an error processing your request. It has been logged (ID ${randomBytes(8).toString('hex')}).`,
            });
          }
          backends = [...backends, stored];
        } else if (index >= 0) {
          backends = backends.map((b, i) => (i === index ? stored : b));
        } else {
          backends = [...backends, stored];
        }
        return sendJson(res, 200, normalizeBackend(input, false));
      }
      case 'delete': {
        backends = backends.filter((b) => b.name !== body);
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      case 'activate':
      case 'deactivate': {
        const name = route.name ?? '';
        const index = backends.findIndex((b) => b.name === name);
        if (index < 0) {
          return sendText(res, 404, `No cluster found with name: ${name}, could not (de)activate`);
        }
        const active = route.action === 'activate';
        backends = backends.map((b, i) => (i === index ? { ...b, active } : b));
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      case 'getRules':
        return sendJson(res, 200, { code: 200, msg: 'Successful.', data: rules });
      case 'updateRules': {
        const parsed = parseJson(body);
        const rule = parsed.ok ? asRoutingRule(parsed.value) : undefined;
        if (!rule) return sendJson(res, 400, { code: 400, message: 'Unable to process JSON' });
        // Matched by name; a rule whose name is unknown changes nothing (as the real RoutingRulesManager).
        rules = rules.map((r) => (r.name === rule.name ? rule : r));
        return sendJson(res, 200, { code: 200, msg: 'Successful.', data: rules });
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
        pushBounded(requests, entry);
        const auth = req.headers.authorization;
        if (auth !== undefined) pushBounded(authorizationHeaders, auth);
        if (applyFault(fault, req, res)) return;
        if (answerDelayMs > 0) return answerAfter(res, answerDelayMs).then((alive) => (alive ? handle(req, res, body) : undefined));
        return handle(req, res, body);
      })
      .catch((err: unknown) => {
        if (err instanceof BodyTooLarge) return sendText(res, 413, 'HTTP 413 Payload Too Large');
        if (!res.headersSent) {
          sendJson(res, 500, { code: 500, message: `There was an error processing your request. ${String(err)}` });
        } else {
          res.destroy();
        }
      });
  });

  const url = await listen(server, opts.port, 'trino-gateway');

  return {
    url,
    get requests() {
      return requests;
    },
    get authorizationHeaders() {
      return authorizationHeaders;
    },
    get lastPrincipal() {
      return lastPrincipal;
    },
    setFault(mode: FaultMode) {
      fault = mode;
    },
    setAnswerDelayMs(ms: number) {
      answerDelayMs = Math.max(0, ms);
    },
    openRequests: () => open,
    backends: () => backends.map((b) => ({ ...b })),
    routingRules: () => rules.map((r) => ({ ...r, actions: [...r.actions] })),
    clearRequests() {
      requests.length = 0;
      authorizationHeaders.length = 0;
    },
    close: () => closeServer(server),
  };
}

type RouteAction = 'ok' | 'all' | 'active' | 'add' | 'update' | 'delete' | 'activate' | 'deactivate' | 'getRules' | 'updateRules';

interface RouteMatch {
  action: RouteAction;
  role: Role;
  name?: string;
}

function matchRoute(method: string, path: string): RouteMatch | 'method-not-allowed' | undefined {
  const table: Array<{ method: string; path: string; action: RouteAction; role: Role }> = [
    { method: 'GET', path: '/gateway', action: 'ok', role: 'API' },
    { method: 'GET', path: '/gateway/backend/all', action: 'all', role: 'API' },
    { method: 'GET', path: '/gateway/backend/active', action: 'active', role: 'API' },
    { method: 'POST', path: '/gateway/backend/modify/add', action: 'add', role: 'API' },
    { method: 'POST', path: '/gateway/backend/modify/update', action: 'update', role: 'API' },
    { method: 'POST', path: '/gateway/backend/modify/delete', action: 'delete', role: 'API' },
    { method: 'GET', path: '/webapp/getRoutingRules', action: 'getRules', role: 'ADMIN' },
    { method: 'POST', path: '/webapp/updateRoutingRules', action: 'updateRules', role: 'ADMIN' },
  ];
  const normalized = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const exact = table.filter((r) => r.path === normalized);
  if (exact.length > 0) {
    const hit = exact.find((r) => r.method === method);
    return hit ? { action: hit.action, role: hit.role } : 'method-not-allowed';
  }
  const toggle = /^\/gateway\/backend\/(activate|deactivate)\/([^/]+)$/.exec(normalized);
  if (toggle) {
    if (method !== 'POST') return 'method-not-allowed';
    let name: string;
    try {
      name = decodeURIComponent(toggle[2]);
    } catch {
      return undefined;
    }
    return { action: toggle[1] === 'activate' ? 'activate' : 'deactivate', role: 'API', name };
  }
  return undefined;
}

/** Keycloak roles of a token: realm_access.roles ∪ every resource_access.<client>.roles. */
function tokenRoles(payload: JWTPayload): Set<string> {
  const roles = new Set<string>();
  const realm = payload.realm_access as { roles?: unknown } | undefined;
  if (realm && Array.isArray(realm.roles)) {
    for (const r of realm.roles) if (typeof r === 'string') roles.add(r);
  }
  const resource = payload.resource_access as Record<string, { roles?: unknown }> | undefined;
  if (resource && typeof resource === 'object') {
    for (const client of Object.values(resource)) {
      if (client && Array.isArray(client.roles)) {
        for (const r of client.roles) if (typeof r === 'string') roles.add(r);
      }
    }
  }
  return roles;
}

type BackendInput = Partial<TrinoGatewayBackend> & { name: string; proxyTo: string };

function asBackendInput(value: unknown): BackendInput | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name.length === 0) return undefined;
  if (typeof v.proxyTo !== 'string' || v.proxyTo.length === 0) return undefined;
  if (v.active !== undefined && v.active !== null && typeof v.active !== 'boolean') return undefined;
  if (v.routingGroup !== undefined && v.routingGroup !== null && typeof v.routingGroup !== 'string') return undefined;
  if (v.externalUrl !== undefined && v.externalUrl !== null && typeof v.externalUrl !== 'string') return undefined;
  return {
    name: v.name,
    proxyTo: v.proxyTo,
    active: typeof v.active === 'boolean' ? v.active : undefined,
    routingGroup: typeof v.routingGroup === 'string' ? v.routingGroup : undefined,
    externalUrl: typeof v.externalUrl === 'string' ? v.externalUrl : undefined,
  };
}

/** Applies the real defaults (active=true, routingGroup=adhoc, externalUrl=proxyTo); `trim` strips one trailing slash like the DAO write. */
function normalizeBackend(input: BackendInput, trim: boolean): TrinoGatewayBackend {
  const strip = (s: string) => (trim ? s.replace(/\/$/, '') : s);
  const proxyTo = strip(input.proxyTo);
  return {
    name: input.name,
    proxyTo,
    active: input.active ?? true,
    routingGroup: input.routingGroup ?? 'adhoc',
    externalUrl: input.externalUrl !== undefined ? strip(input.externalUrl) : proxyTo,
  };
}

function asRoutingRule(value: unknown): TrinoGatewayRoutingRule | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || typeof v.condition !== 'string') return undefined;
  if (v.description !== undefined && v.description !== null && typeof v.description !== 'string') return undefined;
  if (v.priority !== undefined && v.priority !== null && !Number.isInteger(v.priority)) return undefined;
  if (v.actions !== undefined && v.actions !== null) {
    if (!Array.isArray(v.actions) || !v.actions.every((a) => typeof a === 'string')) return undefined;
  }
  return {
    name: v.name,
    description: typeof v.description === 'string' ? v.description : '',
    priority: typeof v.priority === 'number' ? v.priority : 0,
    actions: Array.isArray(v.actions) ? (v.actions as string[]) : [],
    condition: v.condition,
  };
}

function safeEqual(expected: string, actual: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(actual).digest();
  return timingSafeEqual(a, b);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Applies a fault; returns true when the request has been taken care of. */
function applyFault(mode: FaultMode, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  switch (mode) {
    case 'none':
      return false;
    case 'hang':
      // Never answer: the response stays open until the client gives up or the server closes.
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'malformed':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"code":200,"msg":"Successful.","data":[{"name":"trino-');
      return true;
    case 'error500':
      sendJson(res, 500, {
        code: 500,
        message: 'There was an error processing your request. It has been logged (ID 5f1d0c9a2b7e4e61).',
      });
      return true;
  }
}
