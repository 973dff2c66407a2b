import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';
import { startMlAgent } from '../../sandbox/ml-agent';
import type { MlAgentEmulator } from '../../sandbox/ml-agent';
import { waitUntil } from '../support/net';

/** A tiny RS256 issuer: a key pair and its JWKS served over node:http. */
async function startTestIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const other = await generateKeyPair('RS256');
  const server = http.createServer((req, res) => {
    if (req.url === '/realms/test/protocol/openid-connect/certs') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/test`;
  return {
    issuer,
    jwksUri: `${issuer}/protocol/openid-connect/certs`,
    mint(claims: JWTPayload, o: { aud?: string | string[]; iss?: string; expiresIn?: string | number; foreignKey?: boolean } = {}) {
      return new SignJWT({ typ: 'Bearer', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key-1', typ: 'JWT' })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? 'demo-ml-agent')
        .setIssuedAt()
        .setExpirationTime(o.expiresIn ?? '5m')
        .sign(o.foreignKey ? other.privateKey : privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface TrinoCall {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A minimal Trino coordinator speaking the client protocol: POST /v1/statement answers QUEUED
 * with an absolute nextUri, the queued URI answers the first page of rows, the executing URI the
 * rest (no nextUri: finished). Query errors come as HTTP 200 with `error`, as in Trino.
 */
async function startFakeTrino() {
  const calls: TrinoCall[] = [];
  const queries = new Map<string, { rows: string[][]; error?: { message: string; errorName: string; errorType: string } }>();
  let seq = 0;
  let mode: 'ok' | 'http500' | 'flaky503' | 'hangExecuting' = 'ok';
  let flakyLeft = 0;

  function plan(sql: string, user: string): { rows: string[][]; error?: { message: string; errorName: string; errorType: string } } {
    if (user === 'mallory') {
      return { rows: [], error: { message: 'Access Denied: Cannot access catalog tpch', errorName: 'PERMISSION_DENIED', errorType: 'USER_ERROR' } };
    }
    if (sql === 'SHOW CATALOGS') return { rows: [['system'], ['tpch']] };
    const schemas = /^SHOW SCHEMAS FROM (.+)$/.exec(sql);
    if (schemas) {
      if (schemas[1] === 'tpch') return { rows: [['information_schema'], ['sf1'], ['tiny']] };
      if (schemas[1] === '"my-cat"') return { rows: [['quoted_ok']] };
      if (schemas[1] === 'broken') return { rows: [], error: { message: 'Connector failed', errorName: 'GENERIC_INTERNAL_ERROR', errorType: 'INTERNAL_ERROR' } };
      return { rows: [], error: { message: `line 1:1: Catalog '${schemas[1]}' not found`, errorName: 'CATALOG_NOT_FOUND', errorType: 'USER_ERROR' } };
    }
    const tables = /^SHOW TABLES FROM ([^.]+)\.(.+)$/.exec(sql);
    if (tables) {
      if (tables[1] === 'tpch' && tables[2] === 'tiny') return { rows: [['customer'], ['nation'], ['orders'], ['region']] };
      if (tables[1] !== 'tpch')
        return { rows: [], error: { message: `line 1:1: Catalog '${tables[1]}' not found`, errorName: 'CATALOG_NOT_FOUND', errorType: 'USER_ERROR' } };
      return { rows: [], error: { message: `line 1:1: Schema '${tables[2]}' does not exist`, errorName: 'SCHEMA_NOT_FOUND', errorType: 'USER_ERROR' } };
    }
    return { rows: [], error: { message: `line 1:1: mismatched input '${sql}'`, errorName: 'SYNTAX_ERROR', errorType: 'USER_ERROR' } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const send = (value: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (mode === 'http500') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
        return;
      }
      if (mode === 'flaky503' && flakyLeft > 0) {
        flakyLeft -= 1;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
        return;
      }
      const stats = (state: string) => ({ state, queued: state === 'QUEUED', scheduled: state !== 'QUEUED', nodes: 1, elapsedTimeMillis: 1 });
      if (req.method === 'POST' && req.url === '/v1/statement') {
        seq += 1;
        const id = `20250101_000000_${String(seq).padStart(5, '0')}_fake1`;
        queries.set(id, plan(body, String(req.headers['x-trino-user'] ?? '')));
        send({ id, infoUri: `${base}/ui/query.html?${id}`, nextUri: `${base}/v1/statement/queued/${id}/s1/1`, stats: stats('QUEUED'), warnings: [] });
        return;
      }
      const m = /^\/v1\/statement\/(queued|executing)\/([^/]+)\/s1\/(\d+)$/.exec(req.url ?? '');
      const q = m ? queries.get(m[2]) : undefined;
      if (!m || !q) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Query not found');
        return;
      }
      if (req.method === 'DELETE') {
        res.writeHead(204).end();
        return;
      }
      const id = m[2];
      const columns = [{ name: 'Value', type: 'varchar', typeSignature: { rawType: 'varchar', arguments: [] } }];
      if (q.error) {
        send({ id, infoUri: `${base}/ui/query.html?${id}`, stats: stats('FAILED'), error: { ...q.error, errorCode: 1, sqlState: null }, warnings: [] });
        return;
      }
      if (m[1] === 'queued') {
        const half = Math.ceil(q.rows.length / 2);
        send({
          id,
          infoUri: `${base}/ui/query.html?${id}`,
          nextUri: `${base}/v1/statement/executing/${id}/s1/2`,
          columns,
          data: q.rows.slice(0, half),
          stats: stats('RUNNING'),
          warnings: [],
        });
        return;
      }
      if (mode === 'hangExecuting') return;
      const half = Math.ceil(q.rows.length / 2);
      send({ id, infoUri: `${base}/ui/query.html?${id}`, columns, data: q.rows.slice(half), stats: stats('FINISHED'), warnings: [] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    setMode(next: typeof mode, flaky = 0) {
      mode = next;
      flakyLeft = flaky;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('ML-Agent emulator', () => {
  let issuer: Awaited<ReturnType<typeof startTestIssuer>>;
  let trino: Awaited<ReturnType<typeof startFakeTrino>>;
  let agent: MlAgentEmulator;
  let aliceToken: string;
  const alice = { sub: 'u-alice', preferred_username: 'alice', email: 'alice@example.com', azp: 'platform-bff' };

  beforeAll(async () => {
    issuer = await startTestIssuer();
    aliceToken = await issuer.mint(alice);
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(async () => {
    trino = await startFakeTrino();
    agent = await startMlAgent({ verify: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-ml-agent' }, trinoUrl: trino.url, trinoTimeoutMs: 2000 });
  });
  afterEach(async () => {
    await agent.close();
    await trino.close();
  });

  const get = (path: string, token: string | null = aliceToken) =>
    fetch(`${agent.url}${path}`, { headers: token !== null ? { authorization: `Bearer ${token}` } : {} });
  const run = (body: unknown, token: string = aliceToken) =>
    fetch(`${agent.url}/run-workflow-trino`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('lists catalogs by running SHOW CATALOGS on Trino as the token user, following nextUri', async () => {
    const res = await get('/trino/catalogs');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ catalogs: ['system', 'tpch'] });
    expect(trino.calls.map((c) => `${c.method} ${c.url.replace(/\/v1\/statement\/(\w+)\/.*$/, '/v1/statement/$1/…')}`)).toEqual([
      'POST /v1/statement',
      'GET /v1/statement/queued/…',
      'GET /v1/statement/executing/…',
    ]);
    expect(trino.calls[0].body).toBe('SHOW CATALOGS');
    for (const call of trino.calls) {
      expect(call.headers['x-trino-user']).toBe('alice');
      expect(call.headers.authorization).toBeUndefined();
    }
    expect(agent.lastIdentity).toEqual({ sub: 'u-alice', preferred_username: 'alice', aud: 'demo-ml-agent', azp: 'platform-bff', email: 'alice@example.com' });
  });

  it('lists schemas and tables; quotes identifiers that are not plain', async () => {
    expect(await (await get('/trino/schemas/tpch')).json()).toEqual({ schemas: ['information_schema', 'sf1', 'tiny'] });
    expect(await (await get('/trino/tables/tpch/tiny')).json()).toEqual({ tables: ['customer', 'nation', 'orders', 'region'] });
    expect(await (await get('/trino/schemas/my-cat')).json()).toEqual({ schemas: ['quoted_ok'] });
    const injected = await get(`/trino/schemas/${encodeURIComponent('x"; DROP TABLE t; --')}`);
    expect(injected.status).toBe(404);
    expect(trino.calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
      'SHOW SCHEMAS FROM tpch',
      'SHOW TABLES FROM tpch.tiny',
      'SHOW SCHEMAS FROM "my-cat"',
      'SHOW SCHEMAS FROM "x""; DROP TABLE t; --"',
    ]);
  });

  it('passes unknown catalogs and schemas on as 404 {"detail"} and access denials as 403', async () => {
    const catalog = await get('/trino/schemas/nosuch');
    expect(catalog.status).toBe(404);
    expect(await catalog.json()).toEqual({ detail: "line 1:1: Catalog 'nosuch' not found" });
    const schema = await get('/trino/tables/tpch/nosuch');
    expect(schema.status).toBe(404);
    expect(((await schema.json()) as { detail: string }).detail).toContain('does not exist');

    const mallory = await issuer.mint({ sub: 'u-m', preferred_username: 'mallory' });
    const denied = await get('/trino/catalogs', mallory);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { detail: string }).detail).toMatch(/^Access Denied/);
  });

  it('turns Trino failures into 502 {"error"}', async () => {
    const failed = await get('/trino/schemas/broken');
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { error: string }).error).toContain('Connector failed');

    trino.setMode('http500');
    const http500 = await get('/trino/catalogs');
    expect(http500.status).toBe(502);
    expect(Object.keys((await http500.json()) as object)).toEqual(['error']);

    await trino.close();
    const down = await get('/trino/catalogs');
    expect(down.status).toBe(502);
  });

  it('retries 503 from Trino, and cancels a query it gives up on', async () => {
    trino.setMode('flaky503', 2);
    expect(await (await get('/trino/catalogs')).json()).toEqual({ catalogs: ['system', 'tpch'] });
    expect(trino.calls.filter((c) => c.method === 'POST')).toHaveLength(3);

    await agent.close();
    agent = await startMlAgent({ verify: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-ml-agent' }, trinoUrl: trino.url, trinoTimeoutMs: 300 });
    trino.setMode('hangExecuting');
    trino.calls.length = 0;
    const res = await get('/trino/catalogs');
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toContain('in time');
    await waitUntil(() => trino.calls.some((c) => c.method === 'DELETE'));
    expect(trino.calls.find((c) => c.method === 'DELETE')?.url).toMatch(/^\/v1\/statement\/executing\//);
  });

  it('requires a verified Bearer token for its audience (401 {"detail"})', async () => {
    const cases: Array<[string | null, string]> = [
      [null, 'Not authenticated'],
      [await issuer.mint(alice, { aud: 'account' }), 'Invalid audience'],
      [await issuer.mint(alice, { aud: ['account', 'demo-trino-gw'] }), 'Invalid audience'],
      [await issuer.mint(alice, { iss: 'http://127.0.0.1:1/realms/other' }), 'Invalid issuer'],
      [await issuer.mint(alice, { expiresIn: Math.floor(Date.now() / 1000) - 120 }), 'Token has expired'],
      [await issuer.mint(alice, { foreignKey: true }), 'Invalid token'],
      ['garbage', 'Invalid token'],
    ];
    for (const [token, detail] of cases) {
      const res = await get('/trino/catalogs', token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(await res.json()).toEqual({ detail });
    }
    expect(trino.calls).toHaveLength(0);
    expect(agent.lastIdentity).toBeUndefined();

    const arrayAud = await issuer.mint(alice, { aud: ['account', 'demo-ml-agent'] });
    expect((await get('/trino/catalogs', arrayAud)).status).toBe(200);
    expect(agent.lastIdentity?.aud).toEqual(['account', 'demo-ml-agent']);
  });

  it('runs workflows on existing tables', async () => {
    const res = await run({ catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'train', parameters: { target: 'regionkey' }, email: 'alice@example.com' });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Record<string, unknown>;
    expect(out).toEqual({
      runId: expect.stringMatching(/^run-/),
      status: 'SUBMITTED',
      workflow: 'train',
      table: 'tpch.tiny.nation',
      submittedBy: 'alice@example.com',
    });
    expect(trino.calls[0].body).toBe('SHOW TABLES FROM tpch.tiny');
    expect(trino.calls[0].headers['x-trino-user']).toBe('alice');

    const profile = (await (await run({ catalog: 'tpch', schema: 'tiny', table: 'region', workflow: 'profile', email: 'alice@example.com' })).json()) as {
      status: string;
    };
    expect(profile.status).toBe('COMPLETED');
    expect(agent.runs.map((r) => [r.workflow, r.user, r.parameters])).toEqual([
      ['train', 'alice', { target: 'regionkey' }],
      ['profile', 'alice', {}],
    ]);

    const missingTable = await run({ catalog: 'tpch', schema: 'tiny', table: 'nope', workflow: 'train', email: 'alice@example.com' });
    expect(missingTable.status).toBe(404);
    expect(await missingTable.json()).toEqual({ detail: "Table 'tpch.tiny.nope' does not exist" });
  });

  it('validates workflow bodies like FastAPI (422)', async () => {
    const res = await run({ catalog: 'tpch', table: 5, workflow: 'train', parameters: [1], email: 'not-an-email' });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: Array<{ loc: string[]; type: string }> };
    expect(body.detail.map((d) => d.loc.join('.'))).toEqual(['body.schema', 'body.table', 'body.email', 'body.parameters']);
    const bad = await fetch(`${agent.url}/run-workflow-trino`, { method: 'POST', headers: { authorization: `Bearer ${aliceToken}` }, body: '{' });
    expect(bad.status).toBe(422);
    expect(trino.calls).toHaveLength(0);
  });

  it('answers unknown routes and methods like FastAPI', async () => {
    expect(await (await get('/nope')).json()).toEqual({ detail: 'Not Found' });
    const wrongMethod = await fetch(`${agent.url}/run-workflow-trino`, { headers: { authorization: `Bearer ${aliceToken}` } });
    expect(wrongMethod.status).toBe(405);
  });

  it('records requests (and so shows what identity reached it) and injects faults', async () => {
    await get('/trino/catalogs');
    expect(agent.requests[0]).toMatchObject({ method: 'GET', path: '/trino/catalogs', headers: { authorization: `Bearer ${aliceToken}` } });

    agent.setFault('hang');
    const hung = get('/trino/catalogs').catch((e: unknown) => e);
    await waitUntil(() => agent.openRequests() === 1);
    agent.setFault('reset');
    await expect(get('/trino/catalogs')).rejects.toThrow();
    agent.setFault('malformed');
    const malformed = await get('/trino/catalogs');
    expect(malformed.status).toBe(200);
    await expect(malformed.json()).rejects.toThrow();
    agent.setFault('error500');
    expect((await get('/trino/catalogs')).status).toBe(500);
    agent.setFault('none');
    expect((await get('/trino/catalogs')).status).toBe(200);
    expect(agent.openRequests()).toBe(1);
    await agent.close();
    // The hanging request ends when the server closes (fetch fails with a TypeError).
    expect((await hung) as { name?: string }).toMatchObject({ name: 'TypeError' });
  });
});
