import type { Type } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { decodeJwt } from 'jose';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.service';
import { BreakGlassScope, RoutePolicy, SelfAuthorizing } from '../../src/auth/decorators';
import { RouteInventory } from '../../src/auth/route-inventory';
import { PROBE_CACHE_MS } from '../../src/trino-gateway-admin/break-glass/identity-provider-probe';
import { hashBreakGlassPassword } from '../../src/trino-gateway-admin/break-glass/password-hash';
import { SEED_ROUTING_RULES, type TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';

jest.setTimeout(30_000);

const GATEWAY_TIMEOUT_MS = 800;

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
}

function gatewayOf(sandbox: Sandbox): TrinoGatewayEmulator {
  const entry = sandbox.servers.find((s) => s.name === 'trino-gateway');
  if (!entry) throw new Error('the sandbox has no trino-gateway emulator');
  return entry.server as TrinoGatewayEmulator;
}

type OpenApi = {
  paths: Record<string, Record<string, { operationId: string; security?: Array<Record<string, string[]>> }>>;
  components: { securitySchemes: Record<string, unknown> };
};

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function client(bff: TestBff, seen: string[]) {
  return async (method: string, path: string, opts: { token?: string; authorization?: string; json?: unknown } = {}): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.authorization) headers.authorization = opts.authorization;
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${bff.url}${path}`, { method, headers, body: opts.json === undefined ? undefined : JSON.stringify(opts.json) });
    const text = await res.text();
    seen.push(text);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body, text, headers: res.headers };
  };
}

/** Every trino-gateway-admin route of the README's routes table, with a valid body for the writes. */
const ROUTES: Array<{ method: string; path: string; write: boolean; json?: unknown }> = [
  { method: 'GET', path: '/trino/gateway/backend/all', write: false },
  { method: 'GET', path: '/trino/gateway/backend/active', write: false },
  { method: 'POST', path: '/trino/gateway/backend/modify/add', write: true, json: { name: 'trino-x', proxyTo: 'http://127.0.0.1:8089' } },
  { method: 'POST', path: '/trino/gateway/backend/modify/update', write: true, json: { name: 'trino-x', proxyTo: 'http://127.0.0.1:8089' } },
  { method: 'POST', path: '/trino/gateway/backend/modify/delete', write: true, json: { name: 'trino-x' } },
  { method: 'POST', path: '/trino/gateway/backend/activate/trino-etl-1', write: true },
  { method: 'POST', path: '/trino/gateway/backend/deactivate/trino-etl-1', write: true },
  { method: 'POST', path: '/trino/webapp/updateRoutingRules', write: true, json: { name: 'airflow', condition: 'true' } },
  { method: 'GET', path: '/trino/webapp/getRoutingRules', write: false },
];

describe('Trino Gateway admin routes', () => {
  let bff: TestBff;
  let gw: TrinoGatewayEmulator;
  let call: ReturnType<typeof client>;
  const responses: string[] = [];
  const audit: AuditRecord[] = [];
  const userTokens: string[] = [];
  const sentToGateway: string[] = [];
  let admin: string;
  let alice: string;
  let viewer: string;

  beforeAll(async () => {
    bff = await startTestBff();
    gw = gatewayOf(bff.sandbox);
    call = client(bff, responses);
    bff.app.get(AuditLog).subscribe((e) => audit.push(e));
    admin = await bff.token('admin');
    alice = await bff.token('alice');
    viewer = await bff.token('viewer');
    userTokens.push(admin, alice, viewer);
    const clear = gw.clearRequests.bind(gw);
    // Keep every Authorization header the gateway ever received, across the tests' clears.
    gw.clearRequests = () => {
      sentToGateway.push(...gw.authorizationHeaders);
      clear();
    };
  });
  afterAll(async () => {
    await bff?.close();
  });
  beforeEach(() => {
    gw.setFault('none');
    audit.length = 0;
  });

  it.each(ROUTES)('$method $path refuses a request without a token (401) and never calls the gateway', async (r) => {
    gw.clearRequests();
    const res = await call(r.method, r.path, { json: r.json });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.reason).toBe('token_missing');
    expect(gw.requests).toHaveLength(0);
  });

  it.each(ROUTES.filter((r) => r.write))('$method $path needs ADMIN: 403 for a REGULAR user, nothing forwarded', async (r) => {
    gw.clearRequests();
    const res = await call(r.method, r.path, { token: alice, json: r.json });
    expect(res.status).toBe(403);
    expect(res.body.reason).toBe('insufficient_role');
    expect(gw.requests).toHaveLength(0);
  });

  it('reads need only a valid token: a user without any role lists the backends, with a token exchanged for the gateway', async () => {
    gw.clearRequests();
    const all = await call('GET', '/trino/gateway/backend/all', { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body).toEqual(gw.backends());
    const active = await call('GET', '/trino/gateway/backend/active', { token: viewer });
    expect(active.status).toBe(200);
    expect(active.body).toEqual(gw.backends().filter((b) => b.active));
    expect(gw.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /gateway/backend/all', 'GET /gateway/backend/active']);
    const sent = gw.authorizationHeaders.at(-1)!;
    expect(sent).toMatch(/^Bearer /);
    const claims = decodeJwt(sent.slice(7));
    expect(claims.aud).toBe('demo-trino-gw');
    expect(claims.azp).toBe('platform-bff');
    expect(claims.sub).toBe(decodeJwt(viewer).sub);
    expect(gw.lastPrincipal).toEqual({ name: 'viewer', privileges: 'USER_API', via: 'bearer' });
  });

  it("turns the gateway's HTTP 200 {code: 401} into a real 403, and unwraps its envelope otherwise", async () => {
    const denied = await call('GET', '/trino/webapp/getRoutingRules', { token: alice });
    expect(denied.status).toBe(403);
    expect(denied.body.reason).toBe('insufficient_role');
    expect(denied.body.detail).toMatch(/gateway role/);
    const rules = await call('GET', '/trino/webapp/getRoutingRules', { token: admin });
    expect(rules.status).toBe(200);
    expect(rules.body).toEqual(SEED_ROUTING_RULES);
  });

  it('adds, updates, activates, deactivates and deletes a backend, each write audited', async () => {
    const backend = { name: 'trino-3', proxyTo: 'http://127.0.0.1:8083' };
    const added = await call('POST', '/trino/gateway/backend/modify/add', { token: admin, json: backend });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ ...backend, active: true, routingGroup: 'adhoc', externalUrl: backend.proxyTo });
    expect(gw.backends()).toContainEqual(added.body);

    const again = await call('POST', '/trino/gateway/backend/modify/add', { token: admin, json: backend });
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe('conflict');

    const updated = await call('POST', '/trino/gateway/backend/modify/update', {
      token: admin,
      json: { ...backend, active: false, routingGroup: 'etl', externalUrl: 'https://trino-3.example.com' },
    });
    expect(updated.status).toBe(200);
    expect(gw.backends().find((b) => b.name === 'trino-3')).toEqual({ ...backend, active: false, routingGroup: 'etl', externalUrl: 'https://trino-3.example.com' });

    const activated = await call('POST', '/trino/gateway/backend/activate/trino-3', { token: admin });
    expect(activated.status).toBe(200);
    expect(activated.body).toEqual({ name: 'trino-3', action: 'activated' });
    expect(gw.backends().find((b) => b.name === 'trino-3')?.active).toBe(true);
    const deactivated = await call('POST', '/trino/gateway/backend/deactivate/trino-3', { token: admin });
    expect(deactivated.body).toEqual({ name: 'trino-3', action: 'deactivated' });
    expect(gw.backends().find((b) => b.name === 'trino-3')?.active).toBe(false);

    gw.clearRequests();
    const deleted = await call('POST', '/trino/gateway/backend/modify/delete', { token: admin, json: { name: 'trino-3' } });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ name: 'trino-3', action: 'deleted' });
    const del = gw.requests.find((r) => r.path === '/gateway/backend/modify/delete')!;
    expect(del.body).toBe('trino-3'); // the raw name, as the real gateway takes it
    expect(del.headers['content-type']).toMatch(/^text\/plain/);
    expect(gw.backends().some((b) => b.name === 'trino-3')).toBe(false);

    const actor = { via: 'bearer', subject: decodeJwt(admin).sub, username: 'admin' };
    expect(audit.map((e) => [e.action, e.target, e.outcome, e.level])).toEqual([
      ['trino-gateway.backend.add', 'trino-3', 'success', 'info'],
      ['trino-gateway.backend.add', 'trino-3', 'failure', 'warn'],
      ['trino-gateway.backend.update', 'trino-3', 'success', 'info'],
      ['trino-gateway.backend.activate', 'trino-3', 'success', 'info'],
      ['trino-gateway.backend.deactivate', 'trino-3', 'success', 'info'],
      ['trino-gateway.backend.delete', 'trino-3', 'success', 'info'],
    ]);
    for (const e of audit) {
      expect(e.channel).toBe('audit');
      expect(e.actor).toEqual(actor);
      expect(e.requestId).toEqual(expect.any(String));
    }
    expect(audit[1].reason).toBe('conflict');
  });

  it('answers 404 for unknown backends and routing rules, and audits the failure', async () => {
    const toggled = await call('POST', '/trino/gateway/backend/activate/no-such-cluster', { token: admin });
    expect(toggled.status).toBe(404);
    expect(toggled.body.reason).toBe('not_found');
    const deleted = await call('POST', '/trino/gateway/backend/modify/delete', { token: admin, json: { name: 'no-such-cluster' } });
    expect(deleted.status).toBe(404);
    const rule = await call('POST', '/trino/webapp/updateRoutingRules', { token: admin, json: { name: 'no-such-rule', condition: 'true' } });
    expect(rule.status).toBe(404);
    expect(audit.map((e) => [e.action, e.outcome, e.reason])).toEqual([
      ['trino-gateway.backend.activate', 'failure', 'not_found'],
      ['trino-gateway.backend.delete', 'failure', 'not_found'],
      ['trino-gateway.routing-rule.update', 'failure', 'not_found'],
    ]);
  });

  it('replaces a routing rule by name and answers every rule', async () => {
    const rule = {
      name: 'airflow',
      description: 'ETL to etl',
      priority: 5,
      actions: ['result.put("routingGroup", "etl")'],
      condition: 'request.getHeader("X-Trino-Source") == "airflow"',
    };
    const res = await call('POST', '/trino/webapp/updateRoutingRules', { token: admin, json: rule });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([rule, SEED_ROUTING_RULES[1]]);
    expect(gw.routingRules()[0]).toEqual(rule);
    expect(audit.map((e) => [e.action, e.target, e.outcome])).toEqual([['trino-gateway.routing-rule.update', 'airflow', 'success']]);
  });

  it.each([
    ['add: name with a space', '/trino/gateway/backend/modify/add', { name: 'bad name', proxyTo: 'http://h:1' }, 'name'],
    ['add: proxyTo not a URL', '/trino/gateway/backend/modify/add', { name: 'ok', proxyTo: 'not a url' }, 'proxyTo'],
    ['add: proxyTo not http(s)', '/trino/gateway/backend/modify/add', { name: 'ok', proxyTo: 'file:///etc/passwd' }, 'proxyTo'],
    ['add: unknown field', '/trino/gateway/backend/modify/add', { name: 'ok', proxyTo: 'http://h:1', owner: 'me' }, 'owner'],
    ['update: active not a boolean', '/trino/gateway/backend/modify/update', { name: 'ok', proxyTo: 'http://h:1', active: 'yes' }, 'active'],
    ['update: bad routing group', '/trino/gateway/backend/modify/update', { name: 'ok', proxyTo: 'http://h:1', routingGroup: 'a/b' }, 'routingGroup'],
    ['update: bad externalUrl', '/trino/gateway/backend/modify/update', { name: 'ok', proxyTo: 'http://h:1', externalUrl: 'x' }, 'externalUrl'],
    ['delete: no name', '/trino/gateway/backend/modify/delete', {}, 'name'],
    ['delete: name not a string', '/trino/gateway/backend/modify/delete', { name: 42 }, 'name'],
    ['rule: no condition', '/trino/webapp/updateRoutingRules', { name: 'airflow' }, 'condition'],
    ['rule: actions not strings', '/trino/webapp/updateRoutingRules', { name: 'airflow', condition: 'true', actions: [1] }, 'actions'],
    ['rule: priority not an integer', '/trino/webapp/updateRoutingRules', { name: 'airflow', condition: 'true', priority: 1.5 }, 'priority'],
  ])('400 validation_failed, nothing forwarded: %s', async (_what, path, json, field) => {
    gw.clearRequests();
    const res = await call('POST', path, { token: admin, json });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(gw.requests).toHaveLength(0);
    expect(audit).toHaveLength(0);
  });

  describe('validate, then spend: a request that will be refused costs no token exchange', () => {
    /** Token-endpoint calls of every grant at the sandbox issuer. */
    const tokenEndpointCalls = () => Object.values(bff.sandbox.issuer.stats.grants).reduce((a, b) => a + b, 0);
    /** A token never seen before, so no exchange of it can be cached. */
    const freshAdmin = async () => {
      const token = await bff.token('admin', { claims: { jti: `fresh-${Math.random().toString(36).slice(2)}` } });
      userTokens.push(token);
      return token;
    };

    it.each([
      ['add: invalid body', 'POST', '/trino/gateway/backend/modify/add', { name: 'bad name', proxyTo: 'http://h:1' }],
      ['add: no body', 'POST', '/trino/gateway/backend/modify/add', undefined],
      ['update: invalid body', 'POST', '/trino/gateway/backend/modify/update', { name: 'ok', proxyTo: 'http://h:1', active: 'yes' }],
      ['delete: invalid body', 'POST', '/trino/gateway/backend/modify/delete', { name: 42 }],
      ['activate: invalid cluster name', 'POST', `/trino/gateway/backend/activate/${encodeURIComponent('a b')}`, undefined],
      ['deactivate: invalid cluster name', 'POST', `/trino/gateway/backend/deactivate/${encodeURIComponent('../x')}`, undefined],
      ['routing rule: invalid body', 'POST', '/trino/webapp/updateRoutingRules', { name: 'airflow' }],
    ])('%s: 400 validation_failed and zero token-endpoint calls', async (_what, method, path, json) => {
      const token = await freshAdmin();
      gw.clearRequests();
      const before = tokenEndpointCalls();
      const res = await call(method, path, { token, json });
      expect(res.status).toBe(400);
      expect(res.body.reason).toBe('validation_failed');
      expect(tokenEndpointCalls() - before).toBe(0);
      expect(gw.requests).toHaveLength(0);
    });

    it('a valid request with a fresh token exchanges it exactly once (the count above sees exchanges)', async () => {
      const token = await freshAdmin();
      const before = tokenEndpointCalls();
      expect((await call('POST', '/trino/gateway/backend/activate/trino-etl-1', { token })).status).toBe(200);
      expect(tokenEndpointCalls() - before).toBe(1);
    });
  });

  it('400 for a cluster name that is not one, nothing forwarded', async () => {
    gw.clearRequests();
    const res = await call('POST', `/trino/gateway/backend/activate/${encodeURIComponent('../../webapp/x')}`, { token: admin });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe('validation_failed');
    expect(res.body.errors[0].field).toBe('clusterName');
    expect(gw.requests).toHaveLength(0);
  });

  it.each([
    ['error500', 502, 'upstream_unavailable'],
    ['reset', 502, 'upstream_unavailable'],
    ['malformed', 502, 'upstream_unavailable'],
  ] as const)('gateway fault %s: %i %s problem+json', async (fault, status, reason) => {
    gw.setFault(fault);
    const res = await call('GET', '/trino/gateway/backend/all', { token: admin });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.reason).toBe(reason);
  });

  it('a hanging gateway is a 504 naming TRINO_GATEWAY_TIMEOUT_MS, the hung request is closed, and the write is audited as failed', async () => {
    // A BFF of its own with the short limit (on the same sandbox): the other tests' BFF keeps the default, so that its
    // calls do not depend on every gateway answer arriving within 800 ms on a loaded machine.
    const limited = await startTestBff({ TRINO_GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS) }, { sandbox: bff.sandbox });
    const limitedAudit: AuditRecord[] = [];
    limited.app.get(AuditLog).subscribe((e) => limitedAudit.push(e));
    try {
      gw.setFault('hang');
      const res = await client(limited, responses)('POST', '/trino/gateway/backend/activate/trino-etl-1', { token: admin });
      expect(res.status).toBe(504);
      expect(res.body.reason).toBe('upstream_timeout');
      // The limit that ended it is the configured one (no wall-clock assertion), and the BFF let go of the request.
      expect(res.body.detail).toContain(`within ${GATEWAY_TIMEOUT_MS} ms`);
      await waitUntil(() => gw.openRequests() === 0, { what: 'the hung gateway request to be closed' });
      expect(limitedAudit.map((e) => [e.action, e.outcome, e.reason])).toEqual([['trino-gateway.backend.activate', 'failure', 'upstream_timeout']]);
    } finally {
      await limited.close();
    }
  });

  it('the gateway never received a raw user token, and no response ever carried an exchanged token', async () => {
    const seen = [...sentToGateway, ...gw.authorizationHeaders];
    expect(seen.length).toBeGreaterThanOrEqual(15);
    const exchanged = new Set<string>();
    for (const header of seen) {
      expect(header).toMatch(/^Bearer /);
      const token = header.slice(7);
      expect(userTokens).not.toContain(token);
      const claims = decodeJwt(token);
      expect(claims.aud).toBe('demo-trino-gw');
      expect(claims.azp).toBe('platform-bff');
      exchanged.add(token);
    }
    for (const text of responses) for (const token of exchanged) expect(text).not.toContain(token);
    for (const e of audit) for (const token of exchanged) expect(JSON.stringify(e)).not.toContain(token);
  });

  it('documents every route in the generated OpenAPI spec', async () => {
    const spec = (await (await fetch(`${bff.url}/docs-json`)).json()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const r of ROUTES) {
      const path = r.path.replace(/trino-etl-1$/, '{clusterName}');
      const op = spec.paths[path]?.[r.method.toLowerCase()];
      expect({ path, op: op ? 'present' : 'missing' }).toEqual({ path, op: 'present' });
      expect(op.tags).toEqual(['trino-gateway']);
      // Bearer, or (break-glass) HTTP Basic: two alternatives.
      expect(op.security).toEqual([{ bearer: [] }, { basic: [] }]);
      expect(op.summary).toEqual(expect.any(String));
      expect(op.responses['200'].content['application/json'].schema).toBeDefined();
      for (const status of ['401', '403', '503', '502', '504']) {
        expect(op.responses[status]?.content['application/problem+json']).toBeDefined();
      }
      if (r.write) expect(op.responses['400']).toBeDefined();
    }
    expect(spec.components.schemas.GatewayBackendDto.properties.name.example).toBe('trino-adhoc-1');
    expect(spec.components.schemas.GatewayBackendInputDto.required).toEqual(['name', 'proxyTo']);
  });

  it('documents HTTP Basic (break-glass) on exactly the routes whose guard accepts it', async () => {
    const spec = (await (await fetch(`${bff.url}/docs-json`)).json()) as OpenApi;
    expect(spec.components.securitySchemes.basic).toEqual({
      type: 'http',
      scheme: 'basic',
      description: expect.stringMatching(/BREAK_GLASS_USERS.*only while Keycloak is unreachable/),
    });
    // What the guard enforces, resolved as AuthGuard does: a break-glass scope on a route that is neither public nor self-authorizing.
    const reflector = bff.app.get(Reflector);
    const controllers = new Map(
      bff.app
        .get(DiscoveryService)
        .getControllers()
        .map((w) => [w.metatype?.name, w.metatype as Type]),
    );
    const accepting = new Set<string>();
    const routes = bff.app.get(RouteInventory).routes();
    for (const r of routes) {
      const cls = controllers.get(r.controller)!;
      const targets = [cls.prototype[r.handler] as () => unknown, cls];
      const policy = reflector.getAllAndOverride(RoutePolicy, targets);
      const breakGlass = reflector.getAllAndOverride(BreakGlassScope, targets);
      if (breakGlass && policy && policy.kind !== 'public' && !reflector.getAllAndOverride(SelfAuthorizing, targets)) {
        accepting.add(`${r.controller.replace(/Controller$/, '')}_${r.handler}`);
      }
    }
    // The operations that document Basic, by operation id (`<Controller>_<handler>`, `_<method>` appended for @All routes).
    const documented = new Set<string>();
    const operationIds = new Set<string>();
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        operationIds.add(op.operationId);
        if (!(op.security ?? []).some((requirement) => 'basic' in requirement)) continue;
        documented.add(op.operationId.replace(new RegExp(`_${method}$`), ''));
        // An alternative of its own, next to bearer: never `{bearer, basic}` (that would demand both).
        expect([path, method, op.security]).toEqual([path, method, [{ bearer: [] }, { basic: [] }]]);
      }
    }
    for (const id of accepting) expect(operationIds).toContain(id);
    expect([...documented].sort()).toEqual([...accepting].sort());
    // Today: the nine Trino Gateway admin routes of the README's routes table.
    expect(accepting.size).toBe(ROUTES.length);
    expect(
      routes
        .filter((r) => accepting.has(`${r.controller.replace(/Controller$/, '')}_${r.handler}`))
        .map((r) => r.path)
        .sort(),
    ).toEqual(ROUTES.map((r) => r.path.replace(/trino-etl-1$/, ':clusterName')).sort());
  });
});

describe('Break-glass on the Trino Gateway admin routes', () => {
  const PASSWORD = 'correct horse battery staple';
  let sandbox: Sandbox;
  let bff: TestBff;
  let gw: TrinoGatewayEmulator;
  let call: ReturnType<typeof client>;
  const audit: AuditRecord[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    gw = gatewayOf(sandbox);
    const hash = await hashBreakGlassPassword(PASSWORD);
    bff = await startTestBff({ BREAK_GLASS_USERS: `ops:${hash}` }, { sandbox });
    call = client(bff, []);
    bff.app.get(AuditLog).subscribe((e) => audit.push(e));
  });
  afterAll(async () => {
    sandbox?.issuer.setAvailability({ down: false });
    await bff?.close();
    await sandbox?.close();
  });
  beforeEach(() => {
    audit.length = 0;
    gw.clearRequests();
  });

  const metric = async (outcome: string) => {
    const text = await (await fetch(`${bff.url}/metrics`)).text();
    const m = new RegExp(`^bff_break_glass_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('is off without BREAK_GLASS_USERS: Basic is refused even while Keycloak is down', async () => {
    const plain = await startTestBff({}, { sandbox });
    try {
      sandbox.issuer.setAvailability({ down: true });
      const res = await fetch(`${plain.url}/trino/gateway/backend/all`, { headers: { authorization: basic('ops', PASSWORD) } });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { reason: string }).reason).toBe('token_missing');
      expect(gw.requests).toHaveLength(0);
    } finally {
      sandbox.issuer.setAvailability({ down: false });
      await plain.close();
    }
  });

  it('while Keycloak is unreachable: accepted, audited at level alert, counted, and the gateway is called with TRINO_GATEWAY_BASIC_AUTH', async () => {
    sandbox.issuer.setAvailability({ down: true });
    const before = await metric('allowed');
    const res = await call('GET', '/trino/gateway/backend/all', { authorization: basic('ops', PASSWORD) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(gw.backends());
    expect(gw.authorizationHeaders).toEqual([basic('bff-break-glass', sandbox.env.TRINO_GATEWAY_BASIC_AUTH.split(':')[1])]);
    expect(gw.lastPrincipal).toEqual({ name: 'bff-break-glass', privileges: 'ADMIN_USER_API', via: 'basic' });
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'break-glass.authenticate',
        actor: { via: 'break-glass', username: 'ops' },
        target: 'GET /trino/gateway/backend/all',
        outcome: 'success',
        level: 'alert',
      }),
    ]);
    expect(await metric('allowed')).toBe(before + 1);
  });

  it('a break-glass write is audited with the break-glass actor at level alert', async () => {
    sandbox.issuer.setAvailability({ down: true });
    const res = await call('POST', '/trino/gateway/backend/deactivate/trino-adhoc-1', { authorization: basic('ops', PASSWORD) });
    expect(res.status).toBe(200);
    expect(gw.backends().find((b) => b.name === 'trino-adhoc-1')?.active).toBe(false);
    expect(audit.map((e) => [e.action, e.actor.via, e.actor.username, e.outcome, e.level])).toEqual([
      ['break-glass.authenticate', 'break-glass', 'ops', 'success', 'alert'],
      ['trino-gateway.backend.deactivate', 'break-glass', 'ops', 'success', 'alert'],
    ]);
  });

  it('wrong password or unknown user: 401, audited at level alert, nothing forwarded', async () => {
    sandbox.issuer.setAvailability({ down: true });
    const before = await metric('bad_credentials');
    for (const authorization of [basic('ops', 'wrong password'), basic('nobody', PASSWORD)]) {
      const res = await call('GET', '/trino/gateway/backend/all', { authorization });
      expect(res.status).toBe(401);
      expect(res.body.reason).toBe('token_invalid');
    }
    expect(gw.requests).toHaveLength(0);
    expect(audit.map((e) => [e.outcome, e.reason, e.level])).toEqual([
      ['denied', 'bad_credentials', 'alert'],
      ['denied', 'bad_credentials', 'alert'],
    ]);
    expect(await metric('bad_credentials')).toBe(before + 2);
  });

  it('is accepted on the gateway admin routes only', async () => {
    sandbox.issuer.setAvailability({ down: true });
    const res = await call('GET', '/auth/me', { authorization: basic('ops', PASSWORD) });
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('token_missing');
    expect(audit).toHaveLength(0);
  });

  it('is refused again once Keycloak answers (within the probe cache time), before any password check', async () => {
    sandbox.issuer.setAvailability({ down: false });
    // The BFF runs in this process: its clock is moved past the probe's cache time (the last probe said unreachable)
    // instead of sleeping through it.
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + PROBE_CACHE_MS);
    try {
      const res = await call('GET', '/trino/gateway/backend/all', { authorization: basic('ops', PASSWORD) });
      expect(res.status).toBe(401);
      expect(res.body.reason).toBe('token_missing');
      expect(res.body.detail).toMatch(/only while the identity provider is unreachable/);
      expect(gw.requests).toHaveLength(0);
      expect(audit.map((e) => [e.outcome, e.reason, e.level])).toEqual([['denied', 'identity_provider_reachable', 'warn']]);
      // And bearer callers are unaffected.
      const bearer = await call('GET', '/trino/gateway/backend/all', { token: await bff.token('viewer') });
      expect(bearer.status).toBe(200);
    } finally {
      clock.mockRestore();
    }
  });
});
