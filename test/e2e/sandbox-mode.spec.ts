import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractFetch } from '../support/contract';
import { spawnNode } from '../support/processes';
import { MAIN, startSandboxBff, type SandboxBff } from './bff-process';

describe('the built app in sandbox mode (node dist/main.js)', () => {
  let bff: SandboxBff;
  beforeAll(async () => {
    bff = await startSandboxBff();
  });
  afterAll(() => bff?.stop());

  it('prints the Swagger UI URL and demo tokens that work on /auth/me (responses match the spec)', async () => {
    expect(bff.proc.stdout()).toContain(`${bff.url.replace('127.0.0.1', '127.0.0.1')}/docs`);
    for (const [user, role] of [
      ['alice', 'REGULAR'],
      ['admin', 'ADMIN'],
    ] as const) {
      const { res, body } = await contractFetch(`${bff.url}/auth/me`, { headers: { authorization: `Bearer ${bff.tokens[user]}` } });
      expect(res.status).toBe(200);
      expect(body).toMatchObject({ username: user, roles: expect.arrayContaining([role]) });
    }
    const { res } = await contractFetch(`${bff.url}/auth/me`);
    expect(res.status).toBe(401);
  });

  it("keeps the banner in view: Nest's module and route-mapping lines are debug, not info", () => {
    const bootLines = bff.proc
      .stdout()
      .split('\n')
      .filter((l) => /"context":"(InstanceLoader|RoutesResolver|RouterExplorer)"/.test(l));
    expect(bootLines).toEqual([]);
  });

  it('serves the same spec at /docs-json as the committed openapi/openapi.json', async () => {
    const live = (await (await fetch(`${bff.url}/docs-json`)).json()) as { paths: object };
    const committed = JSON.parse(readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8')) as { paths: object };
    expect(Object.keys(live.paths).sort()).toEqual(Object.keys(committed.paths).sort());
  });

  it('ext-authz answers conform to the spec', async () => {
    const ok = await contractFetch(`${bff.url}/api/validate/v1/statement`, { method: 'POST', headers: { authorization: `Bearer ${bff.tokens.alice}` } });
    expect(ok.res.headers.get('x-trino-user')).toBe('alice');
    const denied = await contractFetch(`${bff.url}/api/auth/api/agents`, { headers: { authorization: `Bearer ${bff.tokens.viewer}` } });
    expect(denied.res.status).toBe(403);
  });

  it('logs one structured decision line per denial, with the rule and never the token', async () => {
    const token = bff.tokens.viewer;
    await fetch(`${bff.url}/api/auth/api/agents?access-token=${token}`);
    const line = await bff.proc.waitForOutput(/^\{[^\n]*"event":"auth.decision"[^\n]*"rule":"agents:regular-or-admin"[^\n]*$/m);
    const entry = JSON.parse(line[0]) as Record<string, unknown>;
    expect(entry).toMatchObject({ outcome: 'deny', reason: 'insufficient_role', status: 403, azp: 'platform-frontend', rule: 'agents:regular-or-admin' });
    await bff.proc.waitForOutput(/"url":"\/api\/auth\/api\/agents\?access-token=\[REDACTED\]"/);
    // The banner prints the demo tokens on purpose; the structured log lines never carry any part of one.
    const logLines = bff.proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .join('\n');
    for (const t of Object.values(bff.tokens)) {
      for (const part of t.split('.').slice(1)) expect(logLines).not.toContain(part);
    }
  });

  it('exposes Prometheus metrics with auth failures by reason, and readiness', async () => {
    const metrics = await (await fetch(`${bff.url}/metrics`)).text();
    expect(metrics).toMatch(/bff_auth_failures_total\{reason="token_missing"\} [1-9]/);
    expect(metrics).toMatch(/bff_http_requests_total\{route="\/auth\/me",method="GET",status="200"\} [1-9]/);
    // What is tested is what ships: the app under test runs on Node 24, the Node of the image (docker/Dockerfile).
    expect(metrics).toMatch(/^bff_nodejs_version_info\{version="v24\.\d+\.\d+",major="24",/m);
    const ready = await contractFetch(`${bff.url}/health/ready`);
    // Security headers on every answer.
    expect(ready.res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(ready.res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ready.res.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ok', info: { 'keycloak-jwks': { status: 'up' } } });
  });
});

describe('refusing to start', () => {
  it('in production without KEYCLOAK_URL (no sandbox in production)', async () => {
    const proc = await spawnNode(MAIN, { env: { NODE_ENV: 'production', KEYCLOAK_URL: '', PORT: '0' }, readyLine: /./, timeoutMs: 20000 });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.stderr()).toMatch(/KEYCLOAK_URL: is required in production/);
  });

  it('on invalid configuration, listing every error at once without echoing secrets', async () => {
    const proc = await spawnNode(MAIN, {
      env: {
        KEYCLOAK_URL: 'https://kc.example.com',
        KEYCLOAK_REALM: 'platform',
        BFF_CLIENT_ID: 'bff',
        BFF_CLIENT_SECRET: 'hunter2-client-secret',
        PORT: 'eighty',
        AUTH_JWT_SECRET: 'short-hs-secret',
        TRINO_AUTH: 'kerberos',
      },
      readyLine: /./,
      timeoutMs: 20000,
    });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    const err = proc.stderr();
    for (const key of ['PORT', 'AUTH_JWT_SECRET', 'AUTH_JWT_SECRET_ISSUER', 'TRINO_AUTH']) expect(err).toContain(`- ${key}:`);
    for (const secret of ['hunter2-client-secret', 'short-hs-secret', 'eighty']) expect(err).not.toContain(secret);
  });
});
