import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { BasicAuth, Trino } from 'trino-client';
import type { QueryResult } from 'trino-client';
import { startTrinoCoordinator } from '../../sandbox/trino-coordinator';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { testTls, trustTestCa } from '../support/test-tls';
import { waitUntil } from '../support/net';

jest.setTimeout(30_000);

interface Collected {
  pages: QueryResult[];
  rows: unknown[][];
  columns: string[];
  last: QueryResult | undefined;
}

async function collect(trino: Trino, query: Parameters<Trino['query']>[0]): Promise<Collected> {
  const iter = await trino.query(query);
  const pages: QueryResult[] = [];
  for await (const page of iter) pages.push(page);
  const rows = pages.flatMap((p) => p.data ?? []);
  const withColumns = pages.find((p) => p.columns);
  return { pages, rows, columns: withColumns?.columns?.map((c) => c.name) ?? [], last: pages[pages.length - 1] };
}

type RawAnswer = { status: number; headers: Headers; text: string; json: () => any }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Raw HTTP request returning status, headers and text body (no client library in between). */
async function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}): Promise<RawAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

async function post(base: string, sql: string, headers: Record<string, string> = {}) {
  return raw(`${base}/v1/statement`, { method: 'POST', body: sql, headers: { 'X-Trino-User': 'tester', ...headers } });
}

function client(coord: TrinoCoordinator, extra: Partial<Parameters<typeof Trino.create>[0]> = {}): Trino {
  return Trino.create({ server: coord.url, source: 'spec', extraHeaders: { 'X-Trino-User': 'tester' }, ...extra });
}

describe('Trino coordinator emulator (no auth)', () => {
  let coord: TrinoCoordinator;

  beforeAll(async () => {
    coord = await startTrinoCoordinator({ pageRows: 1000 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('serves public info endpoints', async () => {
    const info = (await raw(`${coord.url}/v1/info`)).json();
    expect(info).toMatchObject({ nodeVersion: { version: '475' }, environment: 'sandbox', coordinator: true, starting: false });
    expect(typeof info.uptime).toBe('string');
    expect((await raw(`${coord.url}/v1/info/state`)).json()).toBe('ACTIVE');
  });

  it('streams 5,000 generated rows across many pages through trino-client', async () => {
    const trino = client(coord);
    const before = coord.requests.length;
    const r = await collect(trino, 'SELECT * FROM sandbox.gen.rows_5000');
    expect(r.columns).toEqual(['id', 'label']);
    expect(r.rows).toHaveLength(5000);
    expect(r.rows[0]).toEqual([1, 'row-1']);
    expect(r.rows[4999]).toEqual([5000, 'row-5000']);
    expect(r.pages.filter((p) => (p.data ?? []).length > 0)).toHaveLength(5);
    expect(r.last?.stats?.state).toBe('FINISHED');
    expect(r.last?.nextUri).toBeUndefined();
    const polls = coord.requests.slice(before).filter((x) => x.path.startsWith('/v1/statement/executing/'));
    expect(polls.length).toBe(6); // 5 data pages + the final FINISHED page
    expect(coord.activeQueries()).toBe(0);
  });

  it('keeps a 1,000,000 row result lazy: the first page comes at once and cancel frees it', async () => {
    const trino = client(coord);
    const iter = await trino.query('SELECT id FROM sandbox.gen.rows_1000000');
    const first = await iter.next();
    expect(first.value.data).toHaveLength(1000);
    expect(first.value.stats?.state).toBe('RUNNING');
    expect(first.value.nextUri).toMatch(/\/v1\/statement\/executing\//);
    expect((first.value as QueryResult & { partialCancelUri?: string }).partialCancelUri).toMatch(/partialCancel/);
    expect(coord.activeQueries()).toBe(1);
    await trino.cancel(first.value.id);
    const after = await iter.next();
    expect(after.value.error).toMatchObject({ errorName: 'USER_CANCELED', errorCode: 3, errorType: 'USER_ERROR', message: 'Query was canceled' });
    expect(after.value.stats?.state).toBe('FAILED');
    expect(after.value.nextUri).toBeUndefined();
    expect(coord.activeQueries()).toBe(0);
  });

  it('answers SHOW CATALOGS / SHOW SCHEMAS / SHOW TABLES and the TPC-H demo tables', async () => {
    const trino = client(coord);
    const catalogs = await collect(trino, 'SHOW CATALOGS');
    expect(catalogs.columns).toEqual(['Catalog']);
    expect(catalogs.rows.map((r) => r[0])).toEqual(['hive', 'sandbox', 'system', 'tpch']);

    expect((await collect(trino, 'show schemas from tpch')).rows.map((r) => r[0])).toEqual(['information_schema', 'sf1', 'tiny']);
    expect((await collect(trino, 'SHOW TABLES FROM tpch.tiny')).rows).toEqual([['nation'], ['region']]);

    const nation = await collect(trino, 'SELECT * FROM tpch.tiny.nation');
    expect(nation.columns).toEqual(['nationkey', 'name', 'regionkey', 'comment']);
    expect(nation.rows).toHaveLength(25);
    expect(nation.rows[0]).toEqual([0, 'ALGERIA', 0, ' haggle. carefully final deposits detect slyly agai']);
    const nationPage = nation.pages.find((p) => p.columns);
    expect(nationPage?.columns?.[1]).toMatchObject({ type: 'varchar(25)', typeSignature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: 25 }] } });

    const scoped = client(coord, { catalog: 'tpch', schema: 'tiny' });
    expect((await collect(scoped, 'select name from region limit 2')).rows).toEqual([['AFRICA'], ['AMERICA']]);
    expect((await collect(scoped, 'SELECT count(*) FROM nation')).rows).toEqual([[25]]);
    expect((await collect(trino, 'SELECT * FROM hive.sales.orders LIMIT 3')).rows).toHaveLength(3);
  });

  it('round-trips USE and SET SESSION through response headers, and shows what the coordinator saw', async () => {
    const trino = client(coord);
    const use = await collect(trino, 'USE tpch.tiny');
    expect(use.last?.stats?.state).toBe('FINISHED');
    expect((use.last as QueryResult & { updateType?: string }).updateType).toBe('USE');

    const current = await collect(trino, 'SELECT current_user, current_catalog, current_schema');
    expect(current.rows).toEqual([['tester', 'tpch', 'tiny']]);
    expect((await collect(trino, 'SELECT name FROM nation LIMIT 1')).rows).toEqual([['ALGERIA']]);

    await collect(trino, "SET SESSION query_priority = '5'");
    const lastPost = [...coord.requests].reverse().find((r) => r.method === 'POST');
    expect(lastPost?.headers['x-trino-catalog']).toBe('tpch');

    const session = await collect(trino, "SHOW SESSION LIKE 'query_priority'");
    expect(session.columns).toEqual(['Name', 'Value', 'Default', 'Type', 'Description']);
    expect(session.rows[0].slice(0, 3)).toEqual(['query_priority', '5', '1']);
    const post2 = [...coord.requests].reverse().find((r) => r.method === 'POST');
    expect(post2?.headers['x-trino-session']).toBe('query_priority=5');

    await collect(trino, 'RESET SESSION query_priority');
    const afterReset = await collect(trino, "SHOW SESSION LIKE 'query_priority'");
    expect(afterReset.rows[0][1]).toBe('1');
  });

  it('emits every session-changing response header like Trino', async () => {
    const base = coord.url;
    const finalHeaders = async (sql: string, headers: Record<string, string> = {}) => {
      let body = (await post(base, sql, headers)).json();
      let last: Awaited<ReturnType<typeof raw>> | undefined;
      while (body.nextUri) {
        last = await raw(body.nextUri);
        body = last.json();
      }
      return { headers: last?.headers ?? new Headers(), body };
    };
    expect((await finalHeaders('USE hive.sales')).headers.get('x-trino-set-catalog')).toBe('hive');
    expect((await finalHeaders('USE hive.sales')).headers.get('x-trino-set-schema')).toBe('sales');
    expect((await finalHeaders("SET SESSION a = 'x y'")).headers.get('x-trino-set-session')).toBe('a=x+y');
    expect((await finalHeaders('RESET SESSION a')).headers.get('x-trino-clear-session')).toBe('a');
    const prep = await finalHeaders('PREPARE q1 FROM SELECT 1');
    expect(prep.headers.get('x-trino-added-prepare')).toBe('q1=SELECT+1');
    expect(prep.body.updateType).toBe('PREPARE');
    const exec = await finalHeaders('EXECUTE q1', { 'X-Trino-Prepared-Statement': 'q1=SELECT+1' });
    expect(exec.body.error).toBeUndefined();
    expect((await finalHeaders('DEALLOCATE PREPARE q1', { 'X-Trino-Prepared-Statement': 'q1=SELECT+1' })).headers.get('x-trino-deallocated-prepare')).toBe('q1');
    // As Trino's StartTransactionTask: only a client that declares transaction support (X-Trino-Transaction-Id: NONE).
    expect((await finalHeaders('START TRANSACTION')).body.error.errorName).toBe('INCOMPATIBLE_CLIENT');
    const tx = (await finalHeaders('START TRANSACTION', { 'X-Trino-Transaction-Id': 'NONE' })).headers.get('x-trino-started-transaction-id');
    expect(tx).toMatch(/^[0-9a-f-]{36}$/);
    expect((await finalHeaders('COMMIT', { 'X-Trino-Transaction-Id': tx ?? '' })).headers.get('x-trino-clear-transaction-id')).toBe('true');
    expect((await finalHeaders('COMMIT')).body.error.errorName).toBe('NOT_IN_TRANSACTION');
  });

  it('reports a syntax error with Trino error shape (HTTP 200, FAILED)', async () => {
    const r = await collect(client(coord), 'SELEC 1');
    const failed = r.pages.find((p) => p.error);
    expect(failed?.stats?.state).toBe('FAILED');
    expect(failed?.nextUri).toBeUndefined();
    expect(failed?.error).toMatchObject({
      errorCode: 1,
      errorName: 'SYNTAX_ERROR',
      errorType: 'USER_ERROR',
      errorLocation: { lineNumber: 1, columnNumber: 1 },
      failureInfo: { type: 'io.trino.sql.parser.ParsingException', suppressed: [], stack: [] },
    });
    expect(failed?.error?.message).toMatch(/^line 1:1: mismatched input 'SELEC'\. Expecting: /);
  });

  it('reports unknown tables as TABLE_NOT_FOUND at the table position', async () => {
    const r = await collect(client(coord), 'SELECT *\nFROM tpch.tiny.nope');
    const error = r.pages.find((p) => p.error)?.error as unknown as Record<string, unknown>;
    expect(error).toMatchObject({
      message: "line 2:6: Table 'tpch.tiny.nope' does not exist",
      errorCode: 46,
      errorName: 'TABLE_NOT_FOUND',
      errorType: 'USER_ERROR',
      errorLocation: { lineNumber: 2, columnNumber: 6 },
    });
  });

  it('follows the REST protocol: queued → executing, slugs, 410 on stale tokens, 404 on bad slugs', async () => {
    const small = await startTrinoCoordinator({ pageRows: 10 });
    try {
      const first = await post(small.url, 'SELECT * FROM sandbox.gen.rows_35', { 'X-Trino-Source': 'raw' });
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/application\/json/);
      const q0 = first.json();
      expect(q0.id).toMatch(/^\d{8}_\d{6}_\d{5}_[a-z0-9]{5}$/);
      expect(q0.infoUri).toBe(`${small.url}/ui/query.html?${q0.id}`);
      expect(q0.nextUri).toMatch(new RegExp(`^${small.url}/v1/statement/queued/${q0.id}/y[0-9a-f]{40}/1$`));
      expect(q0.stats).toMatchObject({ state: 'QUEUED', queued: true, scheduled: false, nodes: 0, processedRows: 0 });
      expect(q0.warnings).toEqual([]);

      const queued = (await raw(q0.nextUri)).json();
      expect(queued.nextUri).toMatch(/\/v1\/statement\/executing\/.+\/0$/);

      const uris: string[] = [];
      let page = queued;
      const rows: unknown[][] = [];
      while (page.nextUri) {
        uris.push(page.nextUri);
        page = (await raw(page.nextUri)).json();
        rows.push(...(page.data ?? []));
        if (uris.length === 3) {
          // at token 2: an older token (1) → 410, the current token is served again, a future token → 404
          expect((await raw(uris[1])).status).toBe(410);
          const again = await raw(uris[2]);
          expect(again.status).toBe(200);
          expect(again.json().data).toEqual(page.data);
          expect((await raw(uris[2].replace(/\/2$/, '/7'))).status).toBe(404);
        }
      }
      expect(rows).toHaveLength(35);
      expect(page.stats.state).toBe('FINISHED');
      expect(page.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'label']);

      const badSlug = await raw(uris[1].replace(/\/y[0-9a-f]{40}\//, '/yffff/'));
      expect(badSlug.status).toBe(404);
      expect(badSlug.text).toBe('Query not found');

      // the slug is bound to the token: another token with the same slug is unknown
      expect((await raw(q0.nextUri.replace(/\/1$/, '/3'))).status).toBe(404);
      const info = (await raw(`${small.url}/v1/query/${q0.id}`, { headers: { 'X-Trino-User': 'tester' } })).json();
      expect(info).toMatchObject({ queryId: q0.id, state: 'FINISHED', query: 'SELECT * FROM sandbox.gen.rows_35', session: { user: 'tester', source: 'raw' } });
      expect((await raw(`${small.url}/v1/query/20200101_000000_00000_zzzzz`, { headers: { 'X-Trino-User': 'tester' } })).status).toBe(410);
    } finally {
      await small.close();
    }
  });

  it('rejects bad statement requests like Trino', async () => {
    const empty = await post(coord.url, '');
    expect(empty.status).toBe(400);
    expect(empty.text).toBe('SQL statement is empty');
    const schemaOnly = await post(coord.url, 'SELECT 1', { 'X-Trino-Schema': 'tiny' });
    expect(schemaOnly.status).toBe(400);
    const noUser = await raw(`${coord.url}/v1/statement`, { method: 'POST', body: 'SELECT 1' });
    expect(noUser.status).toBe(401);
  });

  it('cancels through DELETE on nextUri (queued and executing)', async () => {
    const q = (await post(coord.url, 'SELECT * FROM sandbox.gen.rows_100000')).json();
    const del = await raw(q.nextUri, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const after = (await raw(q.nextUri)).json();
    expect(after.error.errorName).toBe('USER_CANCELED');
    expect(after.nextUri).toBeUndefined();

    const q2 = (await post(coord.url, 'SELECT * FROM sandbox.gen.rows_100000')).json();
    const exec = (await raw((await raw(q2.nextUri)).json().nextUri)).json();
    expect(exec.data).toHaveLength(1000);
    expect((await raw(exec.nextUri, { method: 'DELETE' })).status).toBe(204);
    const canceled = (await raw(exec.nextUri)).json();
    expect(canceled.stats.state).toBe('FAILED');
    expect(canceled.error.errorName).toBe('USER_CANCELED');
    expect(coord.activeQueries()).toBe(0);
  });

  it('long-polls a slow query honouring maxWait and frees the request when the client aborts', async () => {
    // Runs 3 s: every poll before that is an empty RUNNING page.
    const q = (await post(coord.url, 'SELECT * FROM sandbox.gen.sleep_3000')).json();
    const exec0 = (await raw(q.nextUri)).json().nextUri as string;
    const abandoned = coord.abandonedRequests();
    // Without maxWait a poll lasts 1 s; with 50 ms it ends first, even for a client that gives up at 1 s (its timer,
    // in this process, started before the emulator's): the order of the two timers, not a wall-clock bound.
    const empty = (await raw(`${exec0}?maxWait=50ms`, { signal: AbortSignal.timeout(1000) })).json();
    expect(empty.stats.state).toBe('RUNNING');
    expect(empty.data).toBeUndefined();
    const ac = new AbortController();
    const pending = fetch(empty.nextUri, { signal: ac.signal }).catch((e: unknown) => e);
    await waitUntil(() => coord.openRequests() === 1);
    ac.abort();
    await pending;
    await waitUntil(() => coord.openRequests() === 0);
    // Counted as given up by the client (the answered poll before it is not).
    expect(coord.abandonedRequests()).toBe(abandoned + 1);
    // The token was not consumed by the aborted poll; the client can resume.
    let page = (await raw(empty.nextUri)).json();
    while (page.nextUri) page = (await raw(page.nextUri)).json();
    expect(page.stats.state).toBe('FINISHED');
    expect((await collect(client(coord), 'SELECT * FROM sandbox.gen.sleep_50')).rows).toEqual([[50]]);
  });

  it('builds absolute URIs from X-Forwarded-* headers', async () => {
    const q = (await post(coord.url, 'SELECT 1', { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'gw.example', 'X-Forwarded-Port': '8443' })).json();
    expect(q.nextUri).toMatch(/^https:\/\/gw\.example:8443\/v1\/statement\/queued\//);
    expect(q.infoUri).toBe(`https://gw.example:8443/ui/query.html?${q.id}`);
    await raw(q.nextUri.replace('https://gw.example:8443', coord.url), { method: 'DELETE' });
  });

  it('injects faults and counts open requests', async () => {
    coord.setFault('error500');
    expect((await raw(`${coord.url}/v1/info`)).status).toBe(500);
    coord.setFault('malformed');
    const malformed = await raw(`${coord.url}/v1/info`);
    expect(malformed.status).toBe(200);
    expect(() => malformed.json()).toThrow();
    coord.setFault('reset');
    await expect(fetch(`${coord.url}/v1/info`)).rejects.toThrow();
    coord.setFault('hang');
    const ac = new AbortController();
    const hung = fetch(`${coord.url}/v1/info`, { signal: ac.signal }).catch((e: unknown) => e);
    await waitUntil(() => coord.openRequests() === 1);
    ac.abort();
    await hung;
    await waitUntil(() => coord.openRequests() === 0);
    coord.setFault('none');
    expect((await raw(`${coord.url}/v1/info/state`)).status).toBe(200);
  });
});

describe('Trino coordinator emulator (housekeeping)', () => {
  it('abandons queries nobody polls and purges finished ones', async () => {
    const coord = await startTrinoCoordinator({ clientTimeoutMs: 100, queryRetentionMs: 100 });
    try {
      const q = (await post(coord.url, 'SELECT * FROM sandbox.gen.rows_10')).json();
      expect(coord.activeQueries()).toBe(1);
      await waitUntil(() => coord.activeQueries() === 0);
      const info = await raw(`${coord.url}/v1/query/${q.id}`, { headers: { 'X-Trino-User': 'tester' } });
      if (info.status === 200) expect(info.json().errorCode).toMatchObject({ name: 'ABANDONED_QUERY', code: 2 });
      let status = info.status;
      const deadline = Date.now() + 4000;
      while (status !== 410 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await raw(`${coord.url}/v1/query/${q.id}`, { headers: { 'X-Trino-User': 'tester' } })).status;
      }
      expect(status).toBe(410);
      expect((await raw(q.nextUri)).status).toBe(404);
    } finally {
      await coord.close();
    }
  });
});

describe('Trino coordinator emulator (JWT auth)', () => {
  let jwks: http.Server;
  let jwksUri: string;
  let sign: (claims: Record<string, unknown>, opts?: { audience?: string; foreignKey?: boolean }) => Promise<string>;
  let coord: TrinoCoordinator;
  let untrust: () => void;
  const issuer = 'http://issuer.test/realms/platform';
  const audience = 'demo-trino';

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const foreign = await generateKeyPair('RS256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`;
    sign = (claims, opts = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(opts.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(opts.foreignKey ? foreign.privateKey : privateKey);
    untrust = trustTestCa();
    coord = await startTrinoCoordinator({
      tls: testTls(),
      auth: { mode: 'jwt', verify: { issuer, jwksUri, audience }, principalClaim: 'preferred_username', impersonators: ['svc-bff'] },
    });
  });
  afterAll(async () => {
    await coord.close();
    untrust();
    jwks.closeAllConnections();
    await new Promise<void>((resolve) => jwks.close(() => resolve()));
  });

  const bearer = (token: string, user?: string) =>
    Trino.create({ server: coord.url, extraHeaders: { Authorization: `Bearer ${token}`, ...(user ? { 'X-Trino-User': user } : {}) } });

  it('accepts a valid token and runs as its principal', async () => {
    const token = await sign({ preferred_username: 'alice', sub: 'uuid-alice' });
    const r = await collect(bearer(token, 'alice'), 'SELECT current_user');
    expect(r.rows).toEqual([['alice']]);
    expect(coord.receivedUsers).toContain('alice');
  });

  it('rejects an invalid token with 401 and the Trino JWT challenge', async () => {
    const forged = await sign({ preferred_username: 'alice' }, { foreignKey: true });
    await expect(bearer(forged, 'alice').query('SELECT 1')).rejects.toMatchObject({ response: { status: 401 } });
    const wrongAud = await sign({ preferred_username: 'alice' }, { audience: 'someone-else' });
    const res = await raw(`${coord.url}/v1/statement`, { method: 'POST', body: 'SELECT 1', headers: { Authorization: `Bearer ${wrongAud}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="Trino", token_type="JWT"');
    const none = await raw(`${coord.url}/v1/statement`, { method: 'POST', body: 'SELECT 1', headers: { 'X-Trino-User': 'alice' } });
    expect(none.status).toBe(401);
  });

  it('denies impersonation unless the principal is an impersonator', async () => {
    const alice = await sign({ preferred_username: 'alice' });
    const denied = await collect(bearer(alice, 'bob'), 'SELECT current_user');
    const error = denied.pages.find((p) => p.error)?.error;
    expect(error).toMatchObject({
      message: 'Access Denied: User alice cannot impersonate user bob',
      errorName: 'PERMISSION_DENIED',
      errorCode: 4,
      errorType: 'USER_ERROR',
    });
    expect(denied.rows).toEqual([]);

    const svc = await sign({ preferred_username: 'svc-bff' });
    expect((await collect(bearer(svc, 'bob'), 'SELECT current_user')).rows).toEqual([['bob']]);
  });

  it('takes the principal from sub by default, as Trino does: the user name in X-Trino-User is then an impersonation', async () => {
    const byDefault = await startTrinoCoordinator({ tls: testTls(), auth: { mode: 'jwt', verify: { issuer, jwksUri, audience } } });
    try {
      const token = await sign({ preferred_username: 'alice', sub: 'uuid-alice' });
      const client = (user?: string) =>
        Trino.create({ server: byDefault.url, extraHeaders: { Authorization: `Bearer ${token}`, ...(user ? { 'X-Trino-User': user } : {}) } });
      expect((await collect(client(), 'SELECT current_user')).rows).toEqual([['uuid-alice']]);
      const denied = await collect(client('alice'), 'SELECT current_user');
      expect(denied.pages.find((p) => p.error)?.error?.message).toBe('Access Denied: User uuid-alice cannot impersonate user alice');
    } finally {
      await byDefault.close();
    }
  });

  it('keeps nextUri polls public and /v1/query authenticated', async () => {
    const token = await sign({ preferred_username: 'alice' });
    const q = (await raw(`${coord.url}/v1/statement`, { method: 'POST', body: 'SELECT 1', headers: { Authorization: `Bearer ${token}` } })).json();
    expect((await raw(q.nextUri)).status).toBe(200);
    expect((await raw(`${coord.url}/v1/query/${q.id}`)).status).toBe(401);
    const info = (await raw(`${coord.url}/v1/query/${q.id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
    expect(info.session).toMatchObject({ user: 'alice', principal: 'alice' });
    expect((await raw(`${coord.url}/v1/query/${q.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })).status).toBe(204);
  });
});

describe('Trino coordinator emulator (basic auth)', () => {
  let coord: TrinoCoordinator;
  let untrust: () => void;
  beforeAll(async () => {
    untrust = trustTestCa();
    coord = await startTrinoCoordinator({ tls: testTls(), auth: { mode: 'basic', users: { ana: 's3cret', etl: 'pw' }, impersonators: ['etl'] } });
  });
  afterAll(async () => {
    await coord.close();
    untrust();
  });

  it('serves https only; authentication without it is refused at start (over http Trino trusts X-Trino-User)', async () => {
    expect(coord.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(() => startTrinoCoordinator({ auth: { mode: 'basic', users: { ana: 's3cret' } } })).toThrow('Trino authenticates only over HTTPS');
  });

  it('authenticates with BasicAuth and applies the impersonation rule', async () => {
    const ok = Trino.create({ server: coord.url, auth: new BasicAuth('ana', 's3cret') });
    expect((await collect(ok, 'SELECT current_user')).rows).toEqual([['ana']]);
    const bad = Trino.create({ server: coord.url, auth: new BasicAuth('ana', 'nope') });
    await expect(bad.query('SELECT 1')).rejects.toMatchObject({ response: { status: 401 } });
    const denied = await collect(ok, { query: 'SELECT 1', user: 'etl' });
    expect(denied.pages.find((p) => p.error)?.error?.errorName).toBe('PERMISSION_DENIED');
    const etl = Trino.create({ server: coord.url, auth: new BasicAuth('etl', 'pw') });
    expect((await collect(etl, { query: 'SELECT current_user', user: 'ana' })).rows).toEqual([['ana']]);
  });
});
