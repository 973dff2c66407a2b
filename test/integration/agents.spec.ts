import { randomUUID } from 'node:crypto';
import { Reflector } from '@nestjs/core';
import { SignJWT } from 'jose';
import { DEFAULT_LLM_MODELS } from '../../sandbox/llm-provider';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { AgentsController } from '../../src/agent-service/agents.controller';
import { AGENTS_POLICY, gatewayPolicyFor } from '../../src/auth/access-policy';
import { RoutePolicy } from '../../src/auth/decorators';
import { RouteInventory } from '../../src/auth/route-inventory';
import { StateStore } from '../../src/state/state-store';
import { startTestBff, type TestBff } from '../support/app';
import { httpRequest, waitUntil, type SimpleResponse } from '../support/net';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(30_000);

const HS_SECRET = 'an-hs256-shared-secret-of-at-least-32-characters';
const HS_ISSUER = 'https://legacy-auth.example.com';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('agents REST /api/agents (real redis-server)', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let bff: TestBff;
  let alice: string;
  let admin: string;
  let viewer: string;

  const env = () => ({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, AUTH_JWT_SECRET: HS_SECRET, AUTH_JWT_SECRET_ISSUER: HS_ISSUER });

  async function start(): Promise<TestBff> {
    const app = await startTestBff(env(), { sandbox });
    await waitUntil(() => app.app.get(StateStore).shared, { what: 'the BFF to reach Valkey' });
    return app;
  }

  function call(method: string, path: string, token?: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<SimpleResponse> {
    const headers: Record<string, string> = { ...extraHeaders };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return httpRequest(`${bff.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }
  const json = (res: SimpleResponse): Json => JSON.parse(res.body) as Json;

  /** A second REGULAR user (same claims shape as alice, another subject). */
  const mallory = () => bff.token('alice', { claims: { sub: randomUUID(), preferred_username: 'mallory', email: 'mallory@example.com' } });

  function hs256(claims: Record<string, unknown>, secret = HS_SECRET): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: HS_ISSUER, aud: 'platform-bff', iat: now, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(secret));
  }

  async function createAgent(token: string, body: Json = { name: 'Sales analyst' }): Promise<Json> {
    const res = await call('POST', '/api/agents', token, body);
    expect(res.status).toBe(201);
    return json(res);
  }

  function expectProblem(res: SimpleResponse, status: number, reason: string): Json {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = json(res);
    expect(body).toMatchObject({ status, reason, type: `urn:problem:bff:${reason}` });
    return body;
  }

  beforeAll(async () => {
    sandbox = await startSandbox();
    redis = await startRedis();
    bff = await start();
    [alice, admin, viewer] = await Promise.all([bff.token('alice'), bff.token('admin'), bff.token('viewer')]);
  });

  afterAll(async () => {
    await bff?.close();
    await redis?.stop();
    await sandbox?.close();
  });

  describe('every route: 401 without a token, 403 without REGULAR/ADMIN, exact 400 on bad input', () => {
    const id = randomUUID();
    // Every row has its three values: jest would take a missing one for a done callback.
    const routes: Array<[string, string, unknown]> = [
      ['POST', '/api/agents', { name: 'x' }],
      ['GET', '/api/agents', undefined],
      ['GET', '/api/agents/models', undefined],
      ['GET', `/api/agents/${id}`, undefined],
      ['DELETE', `/api/agents/${id}`, undefined],
      ['PATCH', `/api/agents/${id}/settings`, { temperature: 1 }],
      ['POST', `/api/agents/${id}/ws-ticket`, undefined],
    ];

    it.each(routes)('%s %s', async (method, path, body) => {
      const none = expectProblem(await call(method, path, undefined, body), 401, 'token_missing');
      expect(none.instance).toBe(path);
      expectProblem(await call(method, path, viewer, body), 403, 'insufficient_role');
      expectProblem(await call(method, path, 'garbage', body), 401, 'token_invalid');
    });

    it('refuses malformed ids with 400', async () => {
      for (const [method, path, body] of [
        ['GET', '/api/agents/not-a-uuid'],
        ['DELETE', '/api/agents/123'],
        ['PATCH', '/api/agents/x/settings', { temperature: 1 }],
        ['POST', '/api/agents/x/ws-ticket'],
      ] as Array<[string, string, unknown?]>) {
        const p = expectProblem(await call(method, path, alice, body), 400, 'validation_failed');
        expect(p.errors).toEqual([{ field: 'id', message: 'id must be an agent id (UUID)' }]);
      }
    });

    it('refuses invalid create bodies field by field, unknown keys included', async () => {
      const cases: Array<[unknown, string]> = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: 'a', owner: 'someone-else' }, 'owner'],
        [{ name: 'a', settings: { temperature: 3 } }, 'settings.temperature'],
        [{ name: 'a', settings: { maxTokens: 0 } }, 'settings.maxTokens'],
        [{ name: 'a', settings: { maxTokens: 1.5 } }, 'settings.maxTokens'],
        [{ name: 'a', settings: { systemPrompt: 'x'.repeat(8001) } }, 'settings.systemPrompt'],
        [{ name: 'a', settings: { topP: 0.5 } }, 'settings.topP'],
        [{ name: 'a', settings: 'fast' }, 'settings'],
        [{ name: 'a', settings: { model: 'gpt-unknown' } }, 'settings.model'],
      ];
      for (const [body, field] of cases) {
        const p = expectProblem(await call('POST', '/api/agents', alice, body), 400, 'validation_failed');
        expect(p.errors.map((e: Json) => e.field)).toContain(field);
      }
      const model = expectProblem(await call('POST', '/api/agents', alice, { name: 'a', settings: { model: 'gpt-unknown' } }), 400, 'validation_failed');
      expect(model.detail).toBe(`settings.model must be one of: ${DEFAULT_LLM_MODELS.join(', ')}`);
    });
  });

  it('serves the configured models', async () => {
    const res = await call('GET', '/api/agents/models', alice);
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({ models: DEFAULT_LLM_MODELS, default: DEFAULT_LLM_MODELS[0] });
  });

  it('creates, reads, lists, changes and deletes an agent', async () => {
    const created = await createAgent(alice, { name: 'Sales analyst', description: 'sales schema', settings: { temperature: 0.2 } });
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Sales analyst',
      description: 'sales schema',
      owner: { subject: sandbox.issuer.users.find((u) => u.username === 'alice')!.sub, username: 'alice' },
      settings: { model: DEFAULT_LLM_MODELS[0], temperature: 0.2, systemPrompt: '', maxTokens: 1024 },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const got = await call('GET', `/api/agents/${created.id}`, alice);
    expect(got.status).toBe(200);
    expect(json(got)).toEqual(created);
    expect(json(await call('GET', '/api/agents', alice)).map((a: Json) => a.id)).toContain(created.id);

    const patched = await call('PATCH', `/api/agents/${created.id}/settings`, alice, { model: DEFAULT_LLM_MODELS[1], systemPrompt: 'Be brief.' });
    expect(patched.status).toBe(200);
    expect(json(patched).settings).toEqual({ model: DEFAULT_LLM_MODELS[1], temperature: 0.2, systemPrompt: 'Be brief.', maxTokens: 1024 });

    expectProblem(await call('PATCH', `/api/agents/${created.id}/settings`, alice, {}), 400, 'validation_failed');
    expectProblem(await call('PATCH', `/api/agents/${created.id}/settings`, alice, { temperature: 0.1, seed: 4 }), 400, 'validation_failed');
    expectProblem(await call('PATCH', `/api/agents/${created.id}/settings`, alice, { model: 'nope' }), 400, 'validation_failed');
    expectProblem(await call('PATCH', `/api/agents/${created.id}/settings`, alice, { name: 'renamed' }), 400, 'validation_failed');
    expect(json(await call('GET', `/api/agents/${created.id}`, alice)).settings.systemPrompt).toBe('Be brief.');

    const deleted = await call('DELETE', `/api/agents/${created.id}`, alice);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBe('');
    expectProblem(await call('GET', `/api/agents/${created.id}`, alice), 404, 'not_found');
    expectProblem(await call('DELETE', `/api/agents/${created.id}`, alice), 404, 'not_found');
    expect(json(await call('GET', '/api/agents', alice)).map((a: Json) => a.id)).not.toContain(created.id);
  });

  it('an agent is its owner’s: others get 404, ADMIN sees and manages all', async () => {
    const mine = await createAgent(alice, { name: 'mine' });
    const other = await mallory();
    const theirs = await createAgent(other, { name: 'theirs' });

    for (const [method, path, body] of [
      ['GET', `/api/agents/${mine.id}`],
      ['DELETE', `/api/agents/${mine.id}`],
      ['PATCH', `/api/agents/${mine.id}/settings`, { temperature: 1 }],
      ['POST', `/api/agents/${mine.id}/ws-ticket`],
    ] as Array<[string, string, unknown?]>) {
      const p = expectProblem(await call(method, path, other, body), 404, 'not_found');
      expect(p.detail).toBe('no such agent'); // the same answer as for an id that never existed
    }
    expect(json(await call('GET', `/api/agents/${randomUUID()}`, other)).detail).toBe('no such agent');

    const malloryList = json(await call('GET', '/api/agents', other)).map((a: Json) => a.id);
    expect(malloryList).toEqual([theirs.id]);
    expect(json(await call('GET', '/api/agents', alice)).map((a: Json) => a.id)).not.toContain(theirs.id);

    const adminList = json(await call('GET', '/api/agents', admin)).map((a: Json) => a.id);
    expect(adminList).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    expect((await call('PATCH', `/api/agents/${theirs.id}/settings`, admin, { maxTokens: 64 })).status).toBe(200);
    expect((await call('DELETE', `/api/agents/${theirs.id}`, admin)).status).toBe(204);
    expect(json(await call('GET', '/api/agents', other))).toEqual([]);
    // The admin's change kept the owner.
    expect(json(await call('GET', `/api/agents/${mine.id}`, admin)).owner.username).toBe('alice');
  });

  it('accepts the legacy userToken only when it is the request’s own token', async () => {
    expect((await call('POST', '/api/agents', alice, { name: 'legacy', userToken: alice })).status).toBe(201);
    const mismatch = expectProblem(await call('POST', '/api/agents', alice, { name: 'legacy', userToken: admin }), 400, 'ambiguous_token');
    expect(mismatch.errors).toEqual([{ field: 'userToken', message: 'userToken must equal the bearer token of the request' }]);
    // On its own it authenticates nothing.
    expectProblem(await call('POST', '/api/agents', undefined, { name: 'legacy', userToken: alice }), 401, 'token_missing');
    const agent = await createAgent(alice);
    expect((await call('PATCH', `/api/agents/${agent.id}/settings`, alice, { temperature: 1, userToken: alice })).status).toBe(200);
    expectProblem(await call('PATCH', `/api/agents/${agent.id}/settings`, alice, { temperature: 1, userToken: 'eyJx.eyJ.y' }), 400, 'ambiguous_token');
    expect((await call('POST', `/api/agents/${agent.id}/ws-ticket`, alice, { userToken: alice })).status).toBe(201);
    expectProblem(await call('POST', `/api/agents/${agent.id}/ws-ticket`, alice, { userToken: admin }), 400, 'ambiguous_token');
  });

  // Found by schemathesis (test/e2e/schemathesis.spec.ts): `null` for an optional field passed
  // class-validator's IsOptional; a null userToken reached the token comparison (500), null
  // settings were stored and answered against the schema (temperature: null).
  it('refuses null for every optional field (optional, not nullable): 400 naming the field, nothing stored', async () => {
    const agent = await createAgent(alice, { name: 'nulls', settings: { temperature: 0.3 } });
    const cases: Array<[string, string, Json, string]> = [
      ['POST', '/api/agents', { name: 'a', userToken: null }, 'userToken'],
      ['POST', '/api/agents', { name: 'a', description: null }, 'description'],
      ['POST', '/api/agents', { name: 'a', settings: null }, 'settings'],
      ['POST', '/api/agents', { name: 'a', settings: { model: null } }, 'settings.model'],
      ['POST', `/api/agents/${agent.id}/ws-ticket`, { userToken: null }, 'userToken'],
      ['PATCH', `/api/agents/${agent.id}/settings`, { userToken: null, temperature: 1 }, 'userToken'],
      ['PATCH', `/api/agents/${agent.id}/settings`, { temperature: null }, 'temperature'],
      ['PATCH', `/api/agents/${agent.id}/settings`, { maxTokens: null }, 'maxTokens'],
      ['PATCH', `/api/agents/${agent.id}/settings`, { systemPrompt: null }, 'systemPrompt'],
      ['PATCH', `/api/agents/${agent.id}/settings`, { model: null }, 'model'],
    ];
    for (const [method, path, body, field] of cases) {
      const p = expectProblem(await call(method, path, alice, body), 400, 'validation_failed');
      expect(p.errors.map((e: Json) => e.field)).toContain(field);
    }
    expect(json(await call('GET', `/api/agents/${agent.id}`, alice)).settings).toEqual({
      model: DEFAULT_LLM_MODELS[0],
      temperature: 0.3,
      systemPrompt: '',
      maxTokens: 1024,
    });
  });

  describe('HS256 tokens (AUTH_JWT_SECRET issuer) beside the realm’s RS256', () => {
    it('work with a real signature', async () => {
      const token = await hs256({ sub: 'legacy-user-1', preferred_username: 'legacy', role: 'REGULAR' });
      const created = await createAgent(token, { name: 'from HS256' });
      expect(created.owner).toEqual({ subject: 'legacy-user-1', username: 'legacy' });
      expect(json(await call('GET', '/api/agents', token)).map((a: Json) => a.id)).toEqual([created.id]);
      expect((await call('GET', `/api/agents/${created.id}`, token)).status).toBe(200);
      // Ownership is (issuer, subject): a realm user with the same sub is someone else.
      const sameSub = await bff.token('alice', { claims: { sub: 'legacy-user-1' } });
      expectProblem(await call('GET', `/api/agents/${created.id}`, sameSub), 404, 'not_found');
      // No role: authenticated but not allowed.
      expectProblem(await call('GET', '/api/agents', await hs256({ sub: 'legacy-user-2' })), 403, 'insufficient_role');
    });

    it('refuse forged, unsigned and algorithm-confused tokens', async () => {
      const forged = await hs256({ sub: 'legacy-user-1', role: 'REGULAR' }, 'not-the-secret-but-also-32-characters-long');
      expect(expectProblem(await call('GET', '/api/agents', forged), 401, 'token_invalid').detail).toBe('the token signature is invalid');

      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const payload = { iss: HS_ISSUER, aud: 'platform-bff', sub: 'legacy-user-1', role: 'ADMIN', exp: now + 600 };
      expectProblem(await call('GET', '/api/agents', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`), 401, 'token_invalid');
      const [h, , sig] = forged.split('.');
      expectProblem(await call('GET', '/api/agents', `${h}.${b64(payload)}.${sig}`), 401, 'token_invalid'); // payload swapped under a signature

      // HS256 under the realm's issuer (signed with anything public): the realm only takes RS256/ES256.
      const confused = await new SignJWT({ ...payload, iss: sandbox.issuer.issuer, typ: 'Bearer' })
        .setProtectedHeader({ alg: 'HS256', kid: sandbox.issuer.currentKid })
        .sign(new TextEncoder().encode(JSON.stringify(sandbox.issuer.publicJwks())));
      expect(expectProblem(await call('GET', '/api/agents', confused), 401, 'token_invalid').detail).toBe('the token algorithm is not allowed for its issuer');
      const expired = await hs256({ sub: 'legacy-user-1', role: 'REGULAR', exp: now - 3600 });
      expectProblem(await call('GET', '/api/agents', expired), 401, 'token_expired');
    });
  });

  it('applies the very AGENTS_POLICY object in the REST guard and in /api/auth', async () => {
    const reflector = bff.app.get(Reflector);
    expect(reflector.get(RoutePolicy, AgentsController)).toBe(AGENTS_POLICY);
    expect(gatewayPolicyFor('/api/agents/x/react')).toBe(AGENTS_POLICY);
    const routes = bff.app
      .get(RouteInventory)
      .routes()
      .filter((r) => r.controller === 'AgentsController');
    expect(routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [
        'DELETE /api/agents/:id',
        'GET /api/agents',
        'GET /api/agents/:id',
        'GET /api/agents/models',
        'PATCH /api/agents/:id/settings',
        'POST /api/agents',
        'POST /api/agents/:id/ws-ticket',
      ].sort(),
    );
    expect(new Set(routes.map((r) => r.policy))).toEqual(new Set([AGENTS_POLICY.rule]));

    // /api/auth decides the same for a gateway.
    const check = (token: string) => call('GET', '/api/auth', token, undefined, { 'x-original-uri': '/api/agents' });
    expect((await check(alice)).status).toBe(200);
    expect((await check(viewer)).status).toBe(403);
    expect((await call('GET', '/api/agents', viewer)).status).toBe(403);
  });

  it('documents every route in the OpenAPI spec', async () => {
    const spec = json(await call('GET', '/docs-json'));
    const op = (path: string, method: string): Json => spec.paths[path][method];
    const all: Array<[string, string]> = [
      ['/api/agents', 'post'],
      ['/api/agents', 'get'],
      ['/api/agents/models', 'get'],
      ['/api/agents/{id}', 'get'],
      ['/api/agents/{id}', 'delete'],
      ['/api/agents/{id}/settings', 'patch'],
      ['/api/agents/{id}/ws-ticket', 'post'],
    ];
    for (const [path, method] of all) {
      const o = op(path, method);
      expect(o.tags).toEqual(['agents']);
      expect(o.summary).toEqual(expect.any(String));
      expect(o.security).toEqual([{ bearer: [] }]);
      expect(Object.keys(o.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (path.includes('{id}')) expect(Object.keys(o.responses)).toEqual(expect.arrayContaining(['400', '404']));
    }
    expect(op('/api/agents', 'post').responses['400']).toBeDefined();
    expect(op('/api/agents/{id}/ws-ticket', 'post').description).toMatch(/user_message[\s\S]*delta[\s\S]*done[\s\S]*4401[\s\S]*4429/);
    const settings = spec.components.schemas.AgentSettingsInputDto;
    expect(Object.keys(settings.properties).sort()).toEqual(['maxTokens', 'model', 'systemPrompt', 'temperature']);
    expect(spec.components.schemas.AgentDto.properties.id.example).toEqual(expect.any(String));
  });

  it('keeps agents in Valkey across a restart of the BFF', async () => {
    const agent = await createAgent(alice, { name: 'survivor', settings: { maxTokens: 77 } });
    expect(await redis.command('EXISTS', `agents:agent:${agent.id}`)).toBe(':1');
    await bff.close();
    bff = await start();
    const got = await call('GET', `/api/agents/${agent.id}`, alice);
    expect(got.status).toBe(200);
    expect(json(got)).toEqual(agent);
    expect(json(await call('GET', '/api/agents', alice)).map((a: Json) => a.id)).toContain(agent.id);
    expectProblem(await call('GET', `/api/agents/${agent.id}`, await mallory()), 404, 'not_found');
  });
});
