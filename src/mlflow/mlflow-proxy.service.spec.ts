// Longer than 400 lines: every decision of the MLflow proxy (methods, identity, cross-site check, UI paths, REST, OTLP) against one set-up of the service and its stand-ins, which Stryker runs as one module.
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessDecider, Decision } from '../auth/access-decider.service';
import { PUBLIC_POLICY } from '../auth/access-policy';
import { principalFromClaims, type Principal } from '../auth/principal';
import type { MetricsService } from '../common/metrics.service';
import { ProblemException } from '../common/problem';
import { loadConfig } from '../config/load-config';
import type { SessionService } from '../session/session.service';
import { MlflowDenials } from './mlflow-denials';
import type { Forward, MlflowForwarder } from './mlflow-forwarder';
import type { MlflowPermissionService } from './mlflow-permission.service';
import { MLFLOW_POLICY, MlflowProxyService } from './mlflow-proxy.service';
import type { MlflowRestDecider } from './mlflow-rest';
import { passthroughBodyHook } from './mlflow-body';
import { MlflowTraceIngest } from './mlflow-trace-ingest';

/**
 * The proxy's own decisions, before any forwarding: which methods it takes, public paths, who the
 * caller is (bearer token first, else the session cookie, else a login redirect for page loads),
 * CSRF on cookie requests, UI paths GET/HEAD only, OTLP traces with EDIT (mlflow-trace-ingest.ts),
 * REST through the REST decider, and everything else refused. The decider, sessions, permissions,
 * REST decider and forwarder are stand-ins that record what the proxy asked of them; the decider
 * stands for the identity chain (a non-empty Authorization header wins over the session cookie).
 */
const ENV = {
  NODE_ENV: 'test',
  KEYCLOAK_URL: 'https://kc.example.com',
  KEYCLOAK_REALM: 'platform',
  BFF_CLIENT_ID: 'platform-bff',
  BFF_CLIENT_SECRET: 's',
  MLFLOW_URL: 'http://mlflow.internal:5000',
  MLFLOW_PUBLIC_PATHS: 'GET /health',
  MLFLOW_TRACE_CLIENTS: 'tracer',
  PUBLIC_URL: 'https://bff.example.com',
};

const principal = (claims: Record<string, unknown>): Principal =>
  principalFromClaims({ sub: 'sub-1', iss: 'https://kc.example.com/realms/platform', exp: 9e9, ...claims }, 'platform-bff');
const ALICE = principal({ preferred_username: 'alice', azp: 'mlflow-ui' });
const TRACER = principal({ preferred_username: 'service-account-tracer', azp: 'tracer' });

interface Recorded {
  decided: Array<{ authorization?: string; sessionId?: string; policy: unknown; route: string }>;
  forwarded: Forward[];
  dropped: number;
  /** The reason label of each bff_mlflow_denials_total increment. */
  denials: string[];
  edit: Array<{ experimentId: string; username?: string }>;
  restCalls: number;
  sent?: { status: number; body: unknown; headers: Record<string, string> };
  redirect?: { url: string; status: number; headers: Record<string, string> };
}

interface Setup {
  /** Decision per Authorization header value (default: allow as ALICE). */
  tokens?: Record<string, Decision>;
  /** Session id → the decision on its access token (absent: the session is gone, 401 token_missing). */
  sessions?: Record<string, Decision>;
  /** EDIT on experiments (default: all); a list: on those only. */
  edit?: boolean | string[];
  /** Traces MLflow knows, with their experiment. */
  traces?: Record<string, string>;
  rest?: { answer: unknown } | { forward: Forward };
  env?: Record<string, string>;
}

function proxy(setup: Setup = {}): { service: MlflowProxyService; rec: Recorded } {
  const rec: Recorded = { decided: [], forwarded: [], dropped: 0, denials: [], edit: [], restCalls: 0 };
  const config = loadConfig({ ...ENV, ...setup.env });
  const decider = {
    decide: async (input: { authorization?: string; sessionId?: string }, policy: unknown, route: string): Promise<Decision> => {
      rec.decided.push({ authorization: input.authorization, sessionId: input.sessionId, policy, route });
      if (input.authorization !== undefined && input.authorization !== '') {
        return setup.tokens?.[input.authorization] ?? { allow: true, principal: ALICE, token: 't', via: 'bearer' };
      }
      if (input.sessionId !== undefined) {
        return setup.sessions?.[input.sessionId] ?? { allow: false, status: 401, reason: 'token_missing', detail: 'the session is gone', via: 'session' };
      }
      return { allow: true };
    },
  } as unknown as AccessDecider;
  const sessions = {
    sessionIdOf: (req: FastifyRequest) => /(?:^|;\s*)sid=([^;]+)/.exec(String(req.headers.cookie ?? ''))?.[1],
    dropCookie: () => {
      rec.dropped++;
    },
  } as unknown as SessionService;
  const permissions = {
    can: async (p: Principal, experimentId: string, level: string) => {
      if (level !== 'EDIT') throw new Error(`asked for ${level}`);
      rec.edit.push({ experimentId, username: p.username });
      return Array.isArray(setup.edit) ? setup.edit.includes(experimentId) : (setup.edit ?? true);
    },
    experimentOfTrace: async (id: string) => setup.traces?.[id],
  } as unknown as MlflowPermissionService;
  const rest = {
    decide: async () => {
      rec.restCalls++;
      return setup.rest ?? { forward: { method: 'GET', query: 'decided=1' } };
    },
  } as unknown as MlflowRestDecider;
  const forwarder = {
    forward: async (_req: FastifyRequest, _reply: FastifyReply, _target: unknown, plan: Forward) => {
      rec.forwarded.push(plan);
    },
  } as unknown as MlflowForwarder;
  const denials = new MlflowDenials({
    counter: () => ({ inc: (labels: { reason: string }) => rec.denials.push(labels.reason) }),
  } as unknown as MetricsService);
  const traces = new MlflowTraceIngest(config, permissions, denials);
  return { service: new MlflowProxyService(config, decider, sessions, rest, traces, forwarder, denials), rec };
}

function request(method: string, url: string, headers: Record<string, string> = {}, body?: Readable): FastifyRequest {
  return { method, headers, raw: { url }, body, host: 'bff.example.com', protocol: 'https' } as unknown as FastifyRequest;
}

function reply(rec: Recorded): FastifyReply {
  const headers: Record<string, string> = {};
  let status = 200;
  const r = {
    code: (s: number) => ((status = s), r),
    header: (k: string, v: string) => ((headers[k] = v), r),
    send: (body: unknown) => ((rec.sent = { status, body, headers }), r),
    redirect: (url: string, s: number) => ((rec.redirect = { url, status: s, headers }), r),
  };
  return r as unknown as FastifyReply;
}

/** Runs one request; the refusal as `status reason`, or 'ok' when the proxy went on. */
async function run(service: MlflowProxyService, rec: Recorded, req: FastifyRequest): Promise<string> {
  try {
    await service.handle(req, reply(rec));
    return 'ok';
  } catch (err) {
    if (err instanceof ProblemException) return `${err.getStatus()} ${err.reason}`;
    throw err;
  }
}

const BEARER = { authorization: 'Bearer good' };
const DENIED_401: Decision = { allow: false, status: 401, reason: 'token_invalid', detail: 'bad' };
const DENIED_403: Decision = { allow: false, status: 403, reason: 'insufficient_role', detail: 'no', principal: ALICE };
const ALICE_SESSION: Decision = { allow: true, principal: ALICE, token: 't', via: 'session' };

beforeEach(() => {
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('MlflowProxyService methods and public paths', () => {
  it.each(['TRACE', 'CONNECT', 'PROPFIND'])('refuses %s with 405 before asking anyone', async (method) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request(method, '/mlflow/api/2.0/mlflow/experiments/get', BEARER))).toBe('405 method_not_allowed');
    expect(rec.decided).toEqual([]);
  });

  it.each(['get', 'Post', 'head', 'options', 'put', 'patch', 'delete'])('takes the method %s in any case', async (method) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request(method, '/mlflow/api/2.0/mlflow/experiments/get', BEARER))).toBe('ok');
    expect(rec.restCalls).toBe(1);
  });

  it('forwards a public path without a caller, the body and query as sent', async () => {
    const { service, rec } = proxy();
    const body = Readable.from(['x']);
    expect(await run(service, rec, request('GET', '/mlflow/health?deep=1', {}, body))).toBe('ok');
    expect(rec.decided).toEqual([{ authorization: undefined, sessionId: undefined, policy: PUBLIC_POLICY, route: 'GET /mlflow/health' }]);
    expect(rec.forwarded).toEqual([{ method: 'GET', query: 'deep=1', body, contentType: undefined }]);
  });

  it('still refuses an invalid bearer token on a public path, with the 401 challenge', async () => {
    const { service, rec } = proxy({ tokens: { 'Bearer bad': DENIED_401 } });
    const err = await service.handle(request('GET', '/mlflow/health', { authorization: 'Bearer bad' }), reply(rec)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemException);
    expect([(err as ProblemException).getStatus(), (err as ProblemException).reason]).toEqual([401, 'token_invalid']);
    expect((err as ProblemException).headers).toEqual({ 'www-authenticate': 'Bearer realm="platform-bff"' });
    expect(rec.forwarded).toEqual([]);
  });

  it('makes only the listed method public: HEAD /health needs a caller', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('HEAD', '/mlflow/health'))).toBe('401 token_missing');
    expect(rec.forwarded).toEqual([]);
  });
});

describe('MlflowProxyService identifies the caller', () => {
  const API = '/mlflow/api/2.0/mlflow/experiments/get';

  it('hands the chain the Authorization header and the session id, with the MLflow policy', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', API, { ...BEARER, cookie: 'sid=s1' }))).toBe('ok');
    expect(rec.decided).toEqual([{ authorization: 'Bearer good', sessionId: 's1', policy: MLFLOW_POLICY, route: `GET ${API}` }]);
  });

  it('asks for any valid caller: no role, no audience, the rule named mlflow in the decision log', () => {
    expect(MLFLOW_POLICY).toEqual({ kind: 'authenticated', rule: 'mlflow' });
  });

  it('refuses with the refusal of a bearer token (no fallback to the session, the cookie kept)', async () => {
    const { service, rec } = proxy({ tokens: { 'Bearer good': { ...DENIED_403, via: 'bearer' } }, sessions: { s1: ALICE_SESSION } });
    expect(await run(service, rec, request('GET', API, { ...BEARER, cookie: 'sid=s1' }))).toBe('403 insufficient_role');
    expect(rec.decided).toHaveLength(1);
    expect([rec.restCalls, rec.dropped]).toEqual([0, 0]);
  });

  it('refuses with the refusal when the chain names no credential kind (a malformed header)', async () => {
    const { service, rec } = proxy({ tokens: { 'Bearer good': DENIED_401 } });
    expect(await run(service, rec, request('GET', API, BEARER))).toBe('401 token_invalid');
    expect(rec.dropped).toBe(0);
  });

  it('takes a session the chain accepts', async () => {
    const { service, rec } = proxy({ sessions: { s1: ALICE_SESSION } });
    expect(await run(service, rec, request('GET', API, { authorization: '', cookie: 'sid=s1' }))).toBe('ok');
    expect(rec.decided.map((d) => [d.authorization, d.sessionId])).toEqual([['', 's1']]);
    expect([rec.restCalls, rec.dropped]).toEqual([1, 0]);
  });

  it('drops the cookie of a session the chain refuses, then asks for a login (401 token_missing)', async () => {
    const { service, rec } = proxy({ sessions: { s1: { ...DENIED_403, via: 'session' } } });
    expect(await run(service, rec, request('GET', API, { cookie: 'sid=s1' }))).toBe('401 token_missing');
    expect([rec.restCalls, rec.dropped]).toEqual([0, 1]);
  });

  it('sends a page load with a gone session to the login, its cookie dropped', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', '/mlflow/', { cookie: 'sid=gone', 'sec-fetch-mode': 'navigate' }))).toBe('ok');
    expect([rec.redirect?.status, rec.dropped]).toEqual([302, 1]);
  });

  it.each([
    ['neither header nor cookie', {}],
    ['an empty Authorization header and no cookie', { authorization: '' }],
  ])('with %s: 401 token_missing without asking the chain', async (_what, headers) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', API, headers))).toBe('401 token_missing');
    expect([rec.decided.length, rec.dropped]).toEqual([0, 0]);
  });

  it('sends a page load of a UI path to the login, returning to the same page and query', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', '/mlflow/static-files/a%20b/?x=1&y=2', { 'sec-fetch-mode': 'navigate' }))).toBe('ok');
    expect(rec.redirect).toEqual({
      url: `https://bff.example.com/auth/login?returnTo=${encodeURIComponent('/mlflow/static-files/a%20b/?x=1&y=2')}`,
      status: 302,
      headers: { 'cache-control': 'no-store' },
    });
    expect(rec.forwarded).toEqual([]);
  });

  it('redirects without a query part when there is none, and for HEAD as for GET', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('HEAD', '/mlflow/', { 'sec-fetch-mode': 'navigate' }))).toBe('ok');
    expect(rec.redirect?.url).toBe(`https://bff.example.com/auth/login?returnTo=${encodeURIComponent('/mlflow/')}`);
  });

  it('takes Accept: text/html as a page load when the browser sends no Sec-Fetch-Mode', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', '/mlflow/', { accept: 'TEXT/HTML,application/xhtml+xml' }))).toBe('ok');
    expect(rec.redirect?.status).toBe(302);
  });

  it.each([
    ['a fetch (Sec-Fetch-Mode cors) that accepts HTML', 'GET', '/mlflow/', { 'sec-fetch-mode': 'cors', accept: 'text/html' }],
    ['a call accepting JSON only', 'GET', '/mlflow/', { accept: 'application/json' }],
    ['a call naming a media type that merely contains text/html', 'GET', '/mlflow/', { accept: 'text/htmlx, xtext/html' }],
    ['a call with no Accept', 'GET', '/mlflow/', {}],
    ['a page load of a REST path', 'GET', '/mlflow/api/2.0/mlflow/experiments/get', { 'sec-fetch-mode': 'navigate' }],
    ['a page load of the traces path', 'GET', '/mlflow/v1/traces', { 'sec-fetch-mode': 'navigate' }],
    ['a POST navigation (form post) to a UI path', 'POST', '/mlflow/', { 'sec-fetch-mode': 'navigate' }],
  ])('answers %s with 401, not a redirect', async (_what, method, url, headers) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request(method, url, headers))).toBe('401 token_missing');
    expect(rec.redirect).toBeUndefined();
  });
});

describe('MlflowProxyService CSRF check of cookie requests', () => {
  const session = { sessions: { s1: ALICE_SESSION } };
  const REST_PATH = '/mlflow/api/2.0/mlflow/experiments/create';

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('refuses a cookie %s without Origin, Referer or Sec-Fetch-Site', async (method) => {
    const { service, rec } = proxy(session);
    expect(await run(service, rec, request(method, REST_PATH, { cookie: 'sid=s1' }))).toBe('403 insufficient_role');
    expect(rec.restCalls).toBe(0);
  });

  it('refuses a cookie POST from another origin, takes one from its own', async () => {
    const other = proxy(session);
    expect(await run(other.service, other.rec, request('POST', REST_PATH, { cookie: 'sid=s1', origin: 'https://evil.example' }))).toBe('403 insufficient_role');
    const own = proxy(session);
    expect(await run(own.service, own.rec, request('POST', REST_PATH, { cookie: 'sid=s1', origin: 'https://bff.example.com' }))).toBe('ok');
    expect(own.rec.restCalls).toBe(1);
  });

  it.each(['GET', 'HEAD', 'OPTIONS'])('lets a cookie %s through without origin evidence', async (method) => {
    const { service, rec } = proxy(session);
    expect(await run(service, rec, request(method, '/mlflow/api/2.0/mlflow/experiments/get', { cookie: 'sid=s1' }))).toBe('ok');
  });

  it('does not ask a bearer POST for origin evidence, a session cookie beside the header or not', async () => {
    const { service, rec } = proxy(session);
    expect(await run(service, rec, request('POST', REST_PATH, BEARER))).toBe('ok');
    expect(await run(service, rec, request('POST', REST_PATH, { ...BEARER, cookie: 'sid=s1' }))).toBe('ok');
    expect(rec.restCalls).toBe(2);
  });
});

describe('MlflowProxyService by kind of path', () => {
  it('forwards a UI GET with its query and no body', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', '/mlflow/static-files/app.js?v=2', BEARER, Readable.from(['x'])))).toBe('ok');
    expect(rec.forwarded).toEqual([{ method: 'GET', query: 'v=2' }]);
  });

  it('forwards a UI HEAD as a HEAD', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('HEAD', '/mlflow/static-files/app.js', BEARER))).toBe('ok');
    expect(rec.forwarded).toEqual([{ method: 'HEAD', query: '' }]);
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS'])('refuses %s on a UI path with 405', async (method) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request(method, '/mlflow/static-files/app.js', BEARER))).toBe('405 method_not_allowed');
    expect(rec.forwarded).toEqual([]);
  });

  it('answers a REST call the decider answers itself with 200 JSON', async () => {
    const { service, rec } = proxy({ rest: { answer: { experiments: [] } } });
    expect(await run(service, rec, request('GET', '/mlflow/api/2.0/mlflow/experiments/search', BEARER))).toBe('ok');
    expect(rec.sent).toEqual({ status: 200, body: { experiments: [] }, headers: { 'content-type': 'application/json' } });
    expect(rec.forwarded).toEqual([]);
  });

  it('forwards a REST call as the decider decided it, not as the client sent it', async () => {
    const plan = { method: 'GET', query: 'experiment_id=7' };
    const { service, rec } = proxy({ rest: { forward: plan } });
    expect(await run(service, rec, request('GET', '/mlflow/api/2.0/mlflow/experiments/get?experiment_id=8', BEARER))).toBe('ok');
    expect(rec.forwarded).toEqual([plan]);
  });

  it.each(['/mlflow/admin', '/mlflow/v1/metrics', '/mlflow/static'])('refuses %s, a path the BFF does not expose, with 403', async (path) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, request('GET', path, BEARER))).toBe('403 insufficient_role');
    expect(rec.forwarded).toEqual([]);
    expect(rec.denials).toEqual(['unknown_path']);
  });
});

describe('MlflowProxyService OTLP traces', () => {
  const TRACES = '/mlflow/v1/traces';
  const A = 'aa'.repeat(16);
  const B = 'bb'.repeat(16);
  const tracer = { tokens: { 'Bearer good': { allow: true, principal: TRACER, token: 't', via: 'bearer' } as Decision } };
  /** An OTLP JSON export of one span of each trace id (hex), as the client's Content-Type says. */
  const post = (headers: Record<string, string>, traceIds: string[] = [A], method = 'POST') => {
    const spans = traceIds.map((traceId) => ({ traceId, spanId: '01'.repeat(8), name: 's' }));
    const req = request(
      method,
      TRACES,
      { ...BEARER, 'content-type': 'application/json', ...headers },
      Readable.from([Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }))]),
    );
    passthroughBodyHook.call(undefined as never, { ...req, routeOptions: { url: '/mlflow/*' } } as unknown as FastifyRequest, {} as FastifyReply, () => undefined);
    return req;
  };

  it('forwards a user with EDIT: the spans decoded and re-encoded as protobuf, only the decided headers', async () => {
    const { service, rec } = proxy();
    expect(await run(service, rec, post({ 'x-mlflow-experiment-id': ' 7 ', 'x-mlflow-workspace': 'other' }))).toBe('ok');
    expect(rec.edit).toEqual([{ experimentId: '7', username: 'alice' }]);
    const [plan] = rec.forwarded;
    expect({ ...plan, body: undefined }).toEqual({
      method: 'POST',
      query: '',
      body: undefined,
      contentType: 'application/x-protobuf',
      headers: { 'x-mlflow-experiment-id': '7' },
    });
    expect(Buffer.isBuffer(plan.body) && plan.body.includes(Buffer.from(A, 'hex'))).toBe(true);
  });

  it('a listed service account sends traces; one that is not listed is refused before any permission look-up', async () => {
    const listed = proxy(tracer);
    expect(await run(listed.service, listed.rec, post({ 'x-mlflow-experiment-id': '7' }))).toBe('ok');
    const other = principal({ preferred_username: 'service-account-other', azp: 'other' });
    const { service, rec } = proxy({ tokens: { 'Bearer good': { allow: true, principal: other, token: 't', via: 'bearer' } } });
    expect(await run(service, rec, post({ 'x-mlflow-experiment-id': '7' }))).toBe('403 insufficient_role');
    expect([rec.edit, rec.forwarded]).toEqual([[], []]);
  });

  it.each(['GET', 'PUT'])('refuses %s with 405', async (method) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, post({ 'x-mlflow-experiment-id': '7' }, [A], method))).toBe('405 method_not_allowed');
  });

  it.each([[undefined], [''], ['abc'], ['7,8'], ['7 8'], ['-1']])('refuses X-Mlflow-Experiment-Id %p with 400', async (id) => {
    const { service, rec } = proxy();
    expect(await run(service, rec, post(id === undefined ? {} : { 'x-mlflow-experiment-id': id }))).toBe('400 validation_failed');
    expect(rec.edit).toEqual([]);
  });

  it('refuses a user without EDIT on the experiment', async () => {
    const { service, rec } = proxy({ edit: false });
    expect(await run(service, rec, post({ 'x-mlflow-experiment-id': '7' }))).toBe('403 insufficient_role');
    expect(rec.forwarded).toEqual([]);
  });

  it('spans of a trace MLflow keeps in another experiment need EDIT there too (MLflow appends them to that trace)', async () => {
    const refused = proxy({ edit: ['7'], traces: { [`tr-${B}`]: '9' } });
    expect(await run(refused.service, refused.rec, post({ 'x-mlflow-experiment-id': '7' }, [A, B]))).toBe('403 insufficient_role');
    expect(refused.rec.forwarded).toEqual([]);
    const allowed = proxy({ edit: ['7', '9'], traces: { [`tr-${B}`]: '9', [`tr-${A}`]: '7' } });
    expect(await run(allowed.service, allowed.rec, post({ 'x-mlflow-experiment-id': '7' }, [A, B]))).toBe('ok');
    expect(allowed.rec.edit.map((e) => e.experimentId)).toEqual(['7', '9']);
  });
});
