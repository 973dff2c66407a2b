import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';
import { SEED_BACKENDS, startTrinoGateway } from '../../sandbox/trino-gateway';
import type { TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import type { TokenVerification } from '../../sandbox/types';
import { waitUntil } from '../support/net';

/** A tiny RS256 issuer: a key pair and its JWKS served over node:http. */
async function startTestIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const server = http.createServer((req, res) => {
    if (req.url === '/realms/test/protocol/openid-connect/certs') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/realms/test`;
  return {
    issuer,
    jwksUri: `${issuer}/protocol/openid-connect/certs`,
    mint(claims: JWTPayload, o: { aud?: string | string[]; iss?: string; expiresIn?: string | number } = {}) {
      return new SignJWT({ typ: 'Bearer', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key-1', typ: 'JWT' })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? 'demo-trino-gw')
        .setIssuedAt()
        .setExpirationTime(o.expiresIn ?? '5m')
        .sign(privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type TestIssuer = Awaited<ReturnType<typeof startTestIssuer>>;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('Trino Gateway emulator without authentication (NoopFilter)', () => {
  let gw: TrinoGatewayEmulator;

  beforeEach(async () => {
    gw = await startTrinoGateway({});
  });
  afterEach(async () => {
    await gw.close();
  });

  it('lists the seeded backends, all and active', async () => {
    const all = await fetch(`${gw.url}/gateway/backend/all`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toContain('application/json');
    const list = (await all.json()) as unknown[];
    expect(list).toEqual(SEED_BACKENDS);
    expect(list).toHaveLength(2);
    for (const b of list) expect(Object.keys(b as object)).toEqual(['name', 'proxyTo', 'active', 'routingGroup', 'externalUrl']);

    const active = (await (await fetch(`${gw.url}/gateway/backend/active`)).json()) as Array<{ name: string }>;
    expect(active.map((b) => b.name)).toEqual(SEED_BACKENDS.filter((b) => b.active).map((b) => b.name));
  });

  it('adds a backend with the real defaults and echoes it back', async () => {
    const res = await fetch(`${gw.url}/gateway/backend/modify/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'trino-3', proxyTo: 'http://localhost:8083' }),
    });
    expect(res.status).toBe(200);
    const expected = { name: 'trino-3', proxyTo: 'http://localhost:8083', active: true, routingGroup: 'adhoc', externalUrl: 'http://localhost:8083' };
    expect(await res.json()).toEqual(expected);
    expect(gw.backends()).toContainEqual(expected);

    const dup = await fetch(`${gw.url}/gateway/backend/modify/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'trino-3', proxyTo: 'http://localhost:9999' }),
    });
    expect(dup.status).toBe(500);

    const bad = await fetch(`${gw.url}/gateway/backend/modify/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ code: 400, message: 'Unable to process JSON' });
  });

  it('updates (upserts) a backend and deletes one by its raw name', async () => {
    const upd = await fetch(`${gw.url}/gateway/backend/modify/update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'trino-etl-1', proxyTo: 'http://127.0.0.1:9090/', active: true, routingGroup: 'etl', externalUrl: 'https://etl.example.com' }),
    });
    expect(upd.status).toBe(200);
    expect(gw.backends().find((b) => b.name === 'trino-etl-1')).toEqual({
      name: 'trino-etl-1',
      proxyTo: 'http://127.0.0.1:9090',
      active: true,
      routingGroup: 'etl',
      externalUrl: 'https://etl.example.com',
    });

    const del = await fetch(`${gw.url}/gateway/backend/modify/delete`, { method: 'POST', body: 'trino-etl-1' });
    expect(del.status).toBe(200);
    expect(await del.text()).toBe('');
    expect(gw.backends().map((b) => b.name)).toEqual(['trino-adhoc-1']);
    expect(gw.requests.at(-1)).toMatchObject({ method: 'POST', path: '/gateway/backend/modify/delete', body: 'trino-etl-1' });

    // A JSON-quoted name is not the raw name: nothing is deleted, still 200 (as the real DAO).
    const quoted = await fetch(`${gw.url}/gateway/backend/modify/delete`, { method: 'POST', body: '"trino-adhoc-1"' });
    expect(quoted.status).toBe(200);
    expect(gw.backends()).toHaveLength(1);
  });

  it('activates and deactivates; unknown names are 404 text/plain', async () => {
    expect((await fetch(`${gw.url}/gateway/backend/activate/trino-etl-1`, { method: 'POST' })).status).toBe(200);
    expect(gw.backends().every((b) => b.active)).toBe(true);
    expect((await fetch(`${gw.url}/gateway/backend/deactivate/trino-adhoc-1`, { method: 'POST' })).status).toBe(200);
    const active = (await (await fetch(`${gw.url}/gateway/backend/active`)).json()) as Array<{ name: string }>;
    expect(active.map((b) => b.name)).toEqual(['trino-etl-1']);

    const missing = await fetch(`${gw.url}/gateway/backend/activate/nope`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('text/plain');
    expect(await missing.text()).toContain('nope');

    expect((await fetch(`${gw.url}/gateway/backend/activate/trino-etl-1`)).status).toBe(405);
    expect((await fetch(`${gw.url}/gateway/nothing-here`)).status).toBe(404);
  });

  it('serves and updates routing rules in the webapp envelope, matched by name', async () => {
    const get = await fetch(`${gw.url}/webapp/getRoutingRules`);
    expect(get.status).toBe(200);
    const env = (await get.json()) as { code: number; msg: string; data: Array<Record<string, unknown>> };
    expect(env.code).toBe(200);
    expect(env.msg).toBe('Successful.');
    expect(env.data).toHaveLength(2);
    for (const r of env.data) expect(Object.keys(r).sort()).toEqual(['actions', 'condition', 'description', 'name', 'priority']);

    const rule = { name: 'airflow', description: 'changed', priority: 5, actions: ['result.put("routingGroup", "batch")'], condition: 'true' };
    const upd = await fetch(`${gw.url}/webapp/updateRoutingRules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(rule),
    });
    expect(upd.status).toBe(200);
    const after = (await upd.json()) as { code: number; data: unknown[] };
    expect(after.code).toBe(200);
    expect(after.data).toHaveLength(2);
    expect(after.data[0]).toEqual(rule);

    const unknown = await fetch(`${gw.url}/webapp/updateRoutingRules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...rule, name: 'not-there' }),
    });
    expect(((await unknown.json()) as { data: unknown[] }).data).toEqual(gw.routingRules());
    expect(gw.routingRules().map((r) => r.name)).toEqual(['airflow', 'bi-dashboards']);

    const invalid = await fetch(`${gw.url}/webapp/updateRoutingRules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'no name or condition' }),
    });
    expect(invalid.status).toBe(400);
  });

  it('injects faults: hang, reset, malformed, error500', async () => {
    gw.setFault('hang');
    const giveUp = new AbortController();
    const hung = fetch(`${gw.url}/gateway/backend/all`, { signal: giveUp.signal });
    // The request is held open, unanswered, until the client gives up.
    await waitUntil(() => gw.openRequests() === 1);
    giveUp.abort();
    await expect(hung).rejects.toMatchObject({ name: 'AbortError' });
    await waitUntil(() => gw.openRequests() === 0);

    gw.setFault('reset');
    await expect(fetch(`${gw.url}/gateway/backend/all`)).rejects.toThrow();

    gw.setFault('malformed');
    const malformed = await fetch(`${gw.url}/gateway/backend/all`);
    expect(malformed.status).toBe(200);
    await expect(malformed.json()).rejects.toThrow();

    gw.setFault('error500');
    expect((await fetch(`${gw.url}/gateway/backend/all`)).status).toBe(500);

    gw.setFault('none');
    expect((await fetch(`${gw.url}/gateway/backend/all`)).status).toBe(200);
    expect(gw.requests.filter((r) => r.path === '/gateway/backend/all')).toHaveLength(5);
    expect(gw.openRequests()).toBe(0);
  });

  it('keeps a bounded request log', async () => {
    for (let i = 0; i < 520; i += 1) await fetch(`${gw.url}/gateway?i=${i}`);
    expect(gw.requests).toHaveLength(500);
    expect(gw.requests[0].path).toBe('/gateway?i=20');
    gw.clearRequests();
    expect(gw.requests).toHaveLength(0);
  });
});

describe('Trino Gateway emulator with Bearer (OAuth) and Basic (presetUsers) authentication', () => {
  let issuer: TestIssuer;
  let verify: TokenVerification;
  let gw: TrinoGatewayEmulator;

  beforeAll(async () => {
    issuer = await startTestIssuer();
    verify = { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-trino-gw' };
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(async () => {
    gw = await startTrinoGateway({
      verify,
      basicUsers: { ops: { password: 's3cret', privileges: 'ADMIN_USER_API' }, viewer: { password: 'v', privileges: 'USER' } },
    });
  });
  afterEach(async () => {
    await gw.close();
  });

  const adminClaims = { sub: 'u-admin', preferred_username: 'admin', realm_access: { roles: ['ADMIN', 'REGULAR'] } };
  const aliceClaims = {
    sub: 'u-alice',
    preferred_username: 'alice',
    realm_access: { roles: ['REGULAR'] },
    resource_access: { account: { roles: ['view-profile'] } },
  };

  it('an ADMIN realm role gets ADMIN_USER_API: backend API and routing rules', async () => {
    const token = await issuer.mint(adminClaims);
    const rules = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: `Bearer ${token}` } });
    expect(rules.status).toBe(200);
    expect(((await rules.json()) as { code: number }).code).toBe(200);
    const add = await fetch(`${gw.url}/gateway/backend/modify/add`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', proxyTo: 'http://x' }),
    });
    expect(add.status).toBe(200);
    expect(gw.lastPrincipal).toEqual({ name: 'admin', privileges: 'ADMIN_USER_API', via: 'bearer' });
    expect(gw.authorizationHeaders).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
  });

  it('an ADMIN client role (resource_access) also makes an admin', async () => {
    const token = await issuer.mint({ sub: 'u-x', preferred_username: 'x', resource_access: { 'demo-trino-gw': { roles: ['ADMIN'] } } });
    const rules = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await rules.json()) as { code: number }).code).toBe(200);
  });

  it('a non-admin token gets USER_API: backend API yes, routing rules come back as 200 {"code":401}', async () => {
    const token = await issuer.mint(aliceClaims);
    const all = await fetch(`${gw.url}/gateway/backend/all`, { headers: { authorization: `Bearer ${token}` } });
    expect(all.status).toBe(200);
    expect(Array.isArray(await all.json())).toBe(true);

    for (const [method, path] of [
      ['GET', '/webapp/getRoutingRules'],
      ['POST', '/webapp/updateRoutingRules'],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify({ name: 'airflow', condition: 'true' }) : undefined,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ code: 401, msg: 'Unauthorized' });
    }
    expect(gw.routingRules()[0].condition).not.toBe('true');
    expect(gw.lastPrincipal).toEqual({ name: 'alice', privileges: 'USER_API', via: 'bearer' });
  });

  it('Basic presetUsers: plain compare; a user without API gets {"code":401} on backend-modify', async () => {
    const ok = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: basic('ops', 's3cret') } });
    expect(((await ok.json()) as { code: number }).code).toBe(200);
    expect(gw.lastPrincipal).toEqual({ name: 'ops', privileges: 'ADMIN_USER_API', via: 'basic' });

    const denied = await fetch(`${gw.url}/gateway/backend/modify/delete`, {
      method: 'POST',
      headers: { authorization: basic('viewer', 'v') },
      body: 'trino-adhoc-1',
    });
    expect(denied.status).toBe(200);
    expect(await denied.json()).toEqual({ code: 401, msg: 'Unauthorized' });
    expect(gw.backends()).toHaveLength(2);

    const wrong = await fetch(`${gw.url}/gateway/backend/all`, { headers: { authorization: basic('ops', 'nope') } });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toBe('Authentication error');
  });

  it('rejects missing, foreign-audience, foreign-issuer and expired tokens with 403 Authentication error', async () => {
    const cases: Array<string | undefined> = [
      undefined,
      `Bearer ${await issuer.mint(adminClaims, { aud: 'account' })}`,
      `Bearer ${await issuer.mint(adminClaims, { iss: 'http://evil.example/realms/test' })}`,
      `Bearer ${await issuer.mint(adminClaims, { expiresIn: Math.floor(Date.now() / 1000) - 60 })}`,
      'Bearer not-a-jwt',
    ];
    for (const authorization of cases) {
      const res = await fetch(`${gw.url}/gateway/backend/all`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(403);
      expect(await res.text()).toBe('Authentication error');
    }
    expect(gw.authorizationHeaders).toEqual(cases.filter((c) => c !== undefined));
    expect(gw.requests).toHaveLength(cases.length);
  });

  it('accepts an array aud containing the audience', async () => {
    const token = await issuer.mint(aliceClaims, { aud: ['account', 'demo-trino-gw'] });
    expect((await fetch(`${gw.url}/gateway/backend/all`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('privilegesField mode reads a flat claim like the real oauth.privilegesField', async () => {
    await gw.close();
    gw = await startTrinoGateway({ verify, privilegesField: 'privileges' });
    const userOnly = await issuer.mint({ ...aliceClaims, privileges: ['ADMIN', 'USER'] });
    const res = await fetch(`${gw.url}/gateway/backend/all`, { headers: { authorization: `Bearer ${userOnly}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ code: 401, msg: 'Unauthorized' });
    expect(gw.lastPrincipal?.privileges).toBe('ADMIN_USER');

    const rules = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: `Bearer ${userOnly}` } });
    expect(((await rules.json()) as { code: number }).code).toBe(200);

    const noClaim = await issuer.mint(adminClaims);
    expect((await fetch(`${gw.url}/gateway/backend/all`, { headers: { authorization: `Bearer ${noClaim}` } })).status).toBe(403);
  });

  it('a custom adminRoleClaim decides who is admin', async () => {
    await gw.close();
    gw = await startTrinoGateway({ verify, adminRoleClaim: 'gateway-admin' });
    const admin = await issuer.mint(adminClaims);
    const asAdminRole = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: `Bearer ${admin}` } });
    expect(await asAdminRole.json()).toEqual({ code: 401, msg: 'Unauthorized' });
    const custom = await issuer.mint({ ...aliceClaims, realm_access: { roles: ['gateway-admin'] } });
    const ok = await fetch(`${gw.url}/webapp/getRoutingRules`, { headers: { authorization: `Bearer ${custom}` } });
    expect(((await ok.json()) as { code: number }).code).toBe(200);
  });
});
