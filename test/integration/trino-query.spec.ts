import * as http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Trino, type QueryResult } from 'trino-client';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTrinoCoordinator, type TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { StateStore } from '../../src/state/state-store';
import { shippedTrinoPrincipalField } from '../deploy/deploy-files';
import { startTestBff, type TestBff } from '../support/app';
import { contractViolations } from '../support/contract';
import { freePort, waitUntil } from '../support/net';
import { redisAvailable, SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';
import { testTls } from '../support/test-tls';
import { bearer, runRaw, type Json } from '../support/trino-raw';

/**
 * The Trino client protocol through the BFF (issue 4), with the real `trino-client` package, the
 * sandbox's Trino coordinator emulator and the sandbox OIDC issuer.
 */
jest.setTimeout(30_000);

async function submit(base: string, token: string, sql: string, headers: Record<string, string> = {}): Promise<Json> {
  const res = await fetch(`${base}/v1/statement`, { method: 'POST', body: sql, headers: { ...bearer(token), ...headers } });
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

/** Follows nextUri until the first page with an executing nextUri (the query is running). */
async function untilExecuting(token: string, first: Json): Promise<Json> {
  let page = first;
  while (page.nextUri && !String(page.nextUri).includes('/executing/')) {
    page = (await (await fetch(page.nextUri, { headers: bearer(token) })).json()) as Json;
  }
  return page;
}

async function drain(
  iter: AsyncIterable<QueryResult>,
): Promise<{ rows: unknown[][]; columns?: QueryResult['columns']; error?: QueryResult['error']; pages: number }> {
  const out: { rows: unknown[][]; columns?: QueryResult['columns']; error?: QueryResult['error']; pages: number } = { rows: [], pages: 0 };
  for await (const r of iter) {
    out.pages++;
    if (r.columns) out.columns = r.columns;
    if (r.data) for (const row of r.data) out.rows.push(row);
    if (r.error) out.error = r.error;
  }
  return out;
}

async function metric(base: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** A GET the test can abandon halfway: resolves with the request once response headers (or the first byte) arrive. */
function openGet(url: string, token: string, waitFor: 'request' | 'first-chunk'): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: bearer(token), agent: false }, (res) => {
      if (waitFor === 'first-chunk') res.once('data', () => resolve(req));
    });
    req.on('error', () => undefined);
    if (waitFor === 'request') resolve(req);
    else req.once('error', reject);
  });
}

describe('Trino client protocol through the BFF', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let coordinator: TrinoCoordinator;
  let alice: string;
  let admin: string;
  const client = (token: string, extraHeaders: Record<string, string> = {}) =>
    Trino.create({ server: bff.url, source: 'trino-query-it', extraHeaders: { ...bearer(token), ...extraHeaders } });

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startTestBff({}, { sandbox });
    coordinator = sandbox.servers.find((s) => s.name === 'trino-coordinator')!.server as TrinoCoordinator;
    alice = await bff.token('alice');
    admin = await bff.token('admin');
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  it('trino-client reads a result of many pages through the BFF, as the token’s user', async () => {
    const before = coordinator.requests.length;
    const result = await drain(await client(alice).query('SELECT * FROM sandbox.gen.rows_25000'));
    expect(result.error).toBeUndefined();
    expect(result.rows).toHaveLength(25_000);
    expect(result.rows[0]).toEqual([1, 'row-1']);
    expect(result.rows[24_999]).toEqual([25_000, 'row-25000']);
    expect(result.columns?.map((c) => c.name)).toEqual(['id', 'label']);
    expect(result.pages).toBeGreaterThanOrEqual(25);
    expect(coordinator.receivedUsers.at(-1)).toBe('alice');
    const pagesAtCoordinator = coordinator.requests.slice(before).filter((r) => r.path.startsWith('/v1/statement/executing/'));
    expect(pagesAtCoordinator.length).toBeGreaterThanOrEqual(25);
    // The BFF calls the coordinator with its own identity header and never with the user's token.
    for (const r of coordinator.requests.slice(before)) {
      expect(r.headers['x-trino-user']).toBe('alice');
      expect(r.headers.authorization).toBeUndefined();
    }
  });

  it('replaces a spoofed X-Trino-User / X-Trino-Original-User, and counts the attempt', async () => {
    const userBefore = await metric(bff.url, 'bff_trino_impersonation_attempts_total', 'header="x-trino-user"');
    const originalBefore = await metric(bff.url, 'bff_trino_impersonation_attempts_total', 'header="x-trino-original-user"');
    const spoofing = client(alice, { 'X-Trino-User': 'admin', 'X-Trino-Original-User': 'root' });
    const result = await drain(await spoofing.query('SELECT current_user'));
    expect(result.rows).toEqual([['alice']]);
    expect(coordinator.receivedUsers.at(-1)).toBe('alice');
    const post = coordinator.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(post.headers['x-trino-user']).toBe('alice');
    expect(post.headers['x-trino-original-user']).toBeUndefined();
    expect(await metric(bff.url, 'bff_trino_impersonation_attempts_total', 'header="x-trino-user"')).toBe(userBefore + 1);
    expect(await metric(bff.url, 'bff_trino_impersonation_attempts_total', 'header="x-trino-original-user"')).toBe(originalBefore + 1);
    // Sending one's own name is no attempt.
    await drain(await client(alice, { 'X-Trino-User': 'alice' }).query('SELECT 1'));
    expect(await metric(bff.url, 'bff_trino_impersonation_attempts_total', 'header="x-trino-user"')).toBe(userBefore + 1);
  });

  it('round-trips session state: USE, SET SESSION, PREPARE/EXECUTE, transactions and client headers', async () => {
    const trino = client(alice);
    await drain(await trino.query('USE tpch.tiny'));
    expect((await drain(await trino.query('SELECT current_catalog, current_schema'))).rows).toEqual([['tpch', 'tiny']]);
    expect((await drain(await trino.query('SELECT count(*) FROM nation'))).rows).toEqual([[25]]);

    await drain(await trino.query("SET SESSION query_max_run_time = '2h'"));
    expect((await drain(await trino.query("SHOW SESSION LIKE 'query_max_run_time'"))).rows[0].slice(0, 2)).toEqual(['query_max_run_time', '2h']);

    await drain(await trino.query('PREPARE answer FROM SELECT 42'));
    expect((await drain(await trino.query('EXECUTE answer'))).rows).toEqual([[42]]);

    // Response headers come back unchanged on the page that carries them...
    const tx = await runRaw(bff.url, alice, 'START TRANSACTION', { 'X-Trino-Transaction-Id': 'NONE' });
    const txId = tx.headers.at(-1)!.get('x-trino-started-transaction-id');
    expect(txId).toMatch(/^[0-9a-f-]{36}$/);
    const commit = await runRaw(bff.url, alice, 'COMMIT', { 'X-Trino-Transaction-Id': txId! });
    expect(commit.error).toBeUndefined();
    expect(commit.headers.at(-1)!.get('x-trino-clear-transaction-id')).toBe('true');

    // ...and every client protocol header reaches the coordinator unchanged.
    const sent = {
      'X-Trino-Client-Tags': 'dashboards,finance',
      'X-Trino-Client-Info': 'it run',
      'X-Trino-Trace-Token': 'trace-123',
      'X-Trino-Time-Zone': 'Europe/Paris',
      'X-Trino-Language': 'fr-FR',
      'X-Trino-Role': 'system=ROLE{analyst}',
      'X-Trino-Extra-Credential': 'k=v',
      'X-Trino-Path': 'tpch.tiny',
    };
    await runRaw(bff.url, alice, 'SELECT 1', sent);
    const post = coordinator.requests.filter((r) => r.method === 'POST').at(-1)!;
    for (const [name, value] of Object.entries(sent)) expect(post.headers[name.toLowerCase()]).toBe(value);
  });

  it('negotiates the spooling protocol off: a client’s X-Trino-Query-Data-Encoding never reaches Trino', async () => {
    // The CLI and JDBC (>= 466) ask for spooled segments by default; their URIs would name the coordinator or
    // its storage, which the BFF neither rewrites nor owner-checks. Without the header Trino answers inline.
    const run = await runRaw(bff.url, alice, 'SELECT * FROM sandbox.gen.rows_2500', { 'X-Trino-Query-Data-Encoding': 'json+zstd,json+lz4,json' });
    expect(run.rows).toHaveLength(2500);
    const post = coordinator.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(post.headers['x-trino-query-data-encoding']).toBeUndefined();
  });

  it('rewrites nextUri, infoUri and partialCancelUri to the host the client used', async () => {
    const run = await runRaw(bff.url, alice, 'SELECT * FROM sandbox.gen.rows_2500');
    expect(run.rows).toHaveLength(2500);
    const uris = run.pages.flatMap((p) => [p.nextUri, p.infoUri, p.partialCancelUri]).filter((u): u is string => typeof u === 'string');
    expect(uris.some((u) => u.includes('/partialCancel/'))).toBe(true);
    for (const u of uris) expect(u.startsWith(`${bff.url}/`)).toBe(true);
    // Without TRUST_PROXY, forwarded headers change nothing, and none reach the coordinator.
    const page = await submit(bff.url, alice, 'SELECT 1', { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' });
    expect(page.nextUri.startsWith(`${bff.url}/v1/statement/queued/`)).toBe(true);
    expect(coordinator.requests.at(-1)!.headers['x-forwarded-host']).toBeUndefined();
  });

  it('accepts the SQL body whatever content type the client sends, and refuses an empty one', async () => {
    for (const type of ['text/plain; charset=utf-8', 'application/x-www-form-urlencoded', undefined]) {
      const page = await new Promise<{ status: number; body: Json }>((resolve, reject) => {
        const headers: Record<string, string> = { ...bearer(alice) };
        if (type) headers['content-type'] = type;
        const req = http.request(`${bff.url}/v1/statement`, { method: 'POST', headers }, (res) => {
          let text = '';
          res
            .setEncoding('utf8')
            .on('data', (c: string) => (text += c))
            .on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Json }));
        });
        req.on('error', reject);
        req.end('SELECT 1');
      });
      expect(page.status).toBe(200);
      expect(page.body.stats.state).toBe('QUEUED');
    }
    const empty = await fetch(`${bff.url}/v1/statement`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'text/plain' }, body: '' });
    expect(empty.status).toBe(400);
    expect(empty.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await empty.json()) as Json).reason).toBe('validation_failed');
    const anonymous = await fetch(`${bff.url}/v1/statement`, { method: 'POST', body: 'SELECT 1' });
    expect(anonymous.status).toBe(401);
  });

  it('refuses another user’s nextUri, cancel and query info with a 404 that never reaches Trino', async () => {
    const first = await submit(bff.url, alice, 'SELECT * FROM sandbox.gen.rows_5000');
    // The first data page: it has the executing nextUri and a partialCancelUri.
    const executing = await untilExecuting(alice, first);
    const running = (await (await fetch(executing.nextUri, { headers: bearer(alice) })).json()) as Json;
    expect(running.partialCancelUri).toBeDefined();
    const before = coordinator.requests.length;
    for (const [method, url] of [
      ['GET', first.nextUri],
      ['DELETE', first.nextUri],
      ['GET', running.nextUri],
      ['DELETE', running.nextUri],
      ['DELETE', running.partialCancelUri],
      ['GET', `${bff.url}/v1/query/${first.id}`],
      ['DELETE', `${bff.url}/v1/query/${first.id}`],
      ['GET', `${bff.url}/v1/statement/executing/${first.id}/not-a-slug/1`],
      ['GET', `${bff.url}/v1/query/20990101_000000_00000_nope0`],
    ] as const) {
      const res = await fetch(url, { method, headers: bearer(admin) });
      expect([method, url, res.status]).toEqual([method, url, 404]);
      expect(((await res.json()) as Json).reason).toBe('not_found');
    }
    const anonymous = await fetch(running.nextUri, {});
    expect(anonymous.status).toBe(401);
    expect(coordinator.requests.length).toBe(before);
    // The owner still follows it to the end.
    let page = running;
    let rows = page.data?.length ?? 0;
    while (page.nextUri) {
      page = (await (await fetch(page.nextUri, { headers: bearer(alice) })).json()) as Json;
      rows += page.data?.length ?? 0;
    }
    expect(rows).toBe(5000);
  });

  it('cancels: trino-client cancel (DELETE /v1/query/{id}) and DELETE on nextUri', async () => {
    const trino = client(alice);
    const iter = await trino.query('SELECT * FROM sandbox.gen.rows_1000000');
    const firstPage = await iter.next();
    const id = firstPage.value.id;
    expect(firstPage.value.data?.length).toBeGreaterThan(0);
    await trino.cancel(id);
    const info = (await trino.queryInfo(id)) as Json;
    expect(info.state).toBe('FAILED');
    expect(info.errorCode.name).toBe('USER_CANCELED');
    expect(info.session.user).toBe('alice');
    expect(info.self).toBe(`${bff.url}/v1/query/${id}`);
    const next = await iter.next();
    expect(next.value.error?.errorName).toBe('USER_CANCELED');

    const page = await untilExecuting(alice, await submit(bff.url, alice, 'SELECT * FROM sandbox.gen.rows_1000000'));
    const active = coordinator.activeQueries();
    const del = await fetch(page.nextUri, { method: 'DELETE', headers: bearer(alice) });
    expect(del.status).toBe(204);
    expect(coordinator.activeQueries()).toBe(active - 1);
  });

  it('passes a failed query’s Trino error object through exactly as the coordinator sent it', async () => {
    const direct = Trino.create({ server: coordinator.url, extraHeaders: { 'X-Trino-User': 'alice' } });
    for (const sql of ['SELECT * FROM tpch.tiny.nope', 'SELEC 1']) {
      const viaBff = await drain(await client(alice).query(sql));
      const fromTrino = await drain(await direct.query(sql));
      expect(viaBff.error).toBeDefined();
      expect(viaBff.error).toEqual(fromTrino.error);
    }
  });

  it('refuses every protocol route but /v1/info without a valid token (401), before Trino is asked', async () => {
    const before = coordinator.requests.length;
    const q = '20250101_120000_00001_abcde';
    for (const [method, path] of [
      ['POST', '/v1/statement'],
      ['GET', `/v1/statement/queued/${q}/yab/1`],
      ['DELETE', `/v1/statement/queued/${q}/yab/1`],
      ['GET', `/v1/statement/executing/${q}/yab/1`],
      ['DELETE', `/v1/statement/executing/partialCancel/${q}/0/yab/1`],
      ['GET', `/v1/query/${q}`],
      ['DELETE', `/v1/query/${q}`],
      ['POST', '/trino/query'],
    ] as const) {
      for (const headers of [{}, bearer('not.a.jwt')]) {
        const res = await fetch(`${bff.url}${path}`, { method, headers, body: method === 'POST' ? 'SELECT 1' : undefined });
        expect([method, path, res.status]).toEqual([method, path, 401]);
      }
    }
    expect(coordinator.requests.length).toBe(before);
  });

  it('serves /v1/info publicly', async () => {
    const res = await fetch(`${bff.url}/v1/info`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).nodeVersion.version).toBe('475');
  });

  it('does not leave an upstream request open when the client goes away', async () => {
    // Long poll: the coordinator holds the page (the query sleeps); the client gives up.
    const running = await untilExecuting(alice, await submit(bff.url, alice, 'SELECT * FROM sandbox.gen.sleep_5000'));
    const req = await openGet(running.nextUri, alice, 'request');
    await waitUntil(() => coordinator.openRequests() === 1, { what: 'the long poll to reach the coordinator' });
    const abandoned = coordinator.abandonedRequests();
    req.destroy();
    // The BFF gave up its request to the coordinator: closed unanswered (not ended by the coordinator's 1 s long poll).
    await waitUntil(() => coordinator.openRequests() === 0, { what: 'the upstream long poll to close' });
    expect(coordinator.abandonedRequests()).toBe(abandoned + 1);
    await fetch(running.nextUri, { method: 'DELETE', headers: bearer(alice) });

    // POST /trino/query: the client gone, the query is cancelled.
    const active = coordinator.activeQueries();
    const body = JSON.stringify({ sql: 'SELECT * FROM sandbox.gen.sleep_10000' });
    const post = http.request(`${bff.url}/trino/query`, { method: 'POST', agent: false, headers: { ...bearer(alice), 'content-type': 'application/json' } });
    post.on('error', () => undefined);
    post.end(body);
    await waitUntil(() => coordinator.activeQueries() === active + 1, { what: 'the query to start' });
    // The BFF is waiting on the running query (its long poll open at the coordinator) when the client goes.
    await waitUntil(() => coordinator.openRequests() === 1, { what: "the BFF's long poll to reach the coordinator" });
    post.destroy();
    await waitUntil(() => coordinator.activeQueries() === active && coordinator.openRequests() === 0, { what: 'the query to be cancelled' });
  });

  describe('POST /trino/query', () => {
    const query = (token: string | undefined, body: unknown) =>
      fetch(`${bff.url}/trino/query`, {
        method: 'POST',
        headers: { ...(token ? bearer(token) : {}), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it('runs to completion: columns, rows, stats', async () => {
      const res = await query(alice, { sql: 'SELECT nationkey, name FROM nation', catalog: 'tpch', schema: 'tiny' });
      expect(res.status).toBe(200);
      const out = (await res.json()) as Json;
      expect(out.columns).toEqual([
        { name: 'nationkey', type: 'bigint' },
        { name: 'name', type: 'varchar(25)' },
      ]);
      expect(out.rows).toHaveLength(25);
      expect(out.rows[0]).toEqual([0, 'ALGERIA']);
      expect(out.truncated).toBe(false);
      expect(out.stats).toEqual(expect.objectContaining({ state: 'FINISHED', processedRows: 25 }));
      const info = (await (await fetch(`${bff.url}/v1/query/${out.queryId}`, { headers: bearer(alice) })).json()) as Json;
      expect(info.session.user).toBe('alice');
      expect((await fetch(`${bff.url}/v1/query/${out.queryId}`, { headers: bearer(admin) })).status).toBe(404);
    });

    it('cuts at maxRows (default 1000), says so, and cancels the rest', async () => {
      const active = coordinator.activeQueries();
      const cut = (await (await query(alice, { sql: 'SELECT * FROM sandbox.gen.rows_100000', maxRows: 10 })).json()) as Json;
      expect(cut.rows).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, `row-${i + 1}`]));
      expect(cut.truncated).toBe(true);
      const byDefault = (await (await query(alice, { sql: 'SELECT * FROM sandbox.gen.rows_100000' })).json()) as Json;
      expect(byDefault.rows).toHaveLength(1000);
      expect(byDefault.truncated).toBe(true);
      expect(coordinator.activeQueries()).toBe(active);
      const exact = (await (await query(alice, { sql: 'SELECT * FROM sandbox.gen.rows_2000', maxRows: 2000 })).json()) as Json;
      expect(exact.rows).toHaveLength(2000);
      expect(exact.truncated).toBe(false);
    });

    it('answers exact 400s, and 401 without a token', async () => {
      const cases: Array<[unknown, string]> = [
        [{ sql: 'SELECT 1', maxRows: 10_001 }, 'maxRows'],
        [{ sql: 'SELECT 1', maxRows: 0 }, 'maxRows'],
        [{ sql: '' }, 'sql'],
        [{}, 'sql'],
        [{ sql: 'SELECT 1', schema: 'tiny' }, 'schema'],
        [{ sql: 'SELECT 1', catalog: 'tpch;DROP' }, 'catalog'],
        [{ sql: 'SELECT 1', extra: true }, 'extra'],
      ];
      for (const [body, field] of cases) {
        const res = await query(alice, body);
        expect([body, res.status]).toEqual([body, 400]);
        const problem = (await res.json()) as Json;
        expect(problem.reason).toBe('validation_failed');
        expect(problem.errors.map((e: Json) => e.field)).toContain(field);
        // As the spec declares it (schemathesis found `error` declared required on every 400).
        expect(contractViolations('POST', '/trino/query', 400, res.headers.get('content-type'), problem)).toEqual([]);
      }
      expect((await query(undefined, { sql: 'SELECT 1' })).status).toBe(401);
    });

    it('answers a failed query with Trino’s error object', async () => {
      const res = await query(alice, { sql: 'SELECT * FROM tpch.tiny.nope' });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const problem = (await res.json()) as Json;
      expect(problem.reason).toBe('upstream_error');
      expect(problem.error).toEqual(expect.objectContaining({ errorName: 'TABLE_NOT_FOUND', errorType: 'USER_ERROR', errorCode: 46 }));
      expect(problem.error.message).toBe(problem.detail);
      expect(contractViolations('POST', '/trino/query', 400, res.headers.get('content-type'), problem)).toEqual([]);
    });
  });
});

describe('Trino behind a proxy: URIs rewritten to the forwarded host or PUBLIC_URL', () => {
  let sandbox: Sandbox;
  let internal: TrinoCoordinator;
  let proxied: TestBff;
  let published: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    // The coordinator writes URIs naming a host nobody outside could reach.
    internal = await startTrinoCoordinator({ externalUrl: 'http://trino-internal.invalid:8080', pageRows: 100 });
    // No TRINO_UI_URL (the sandbox's points at its coordinator's page): the query page link is a 404.
    proxied = await startTestBff({ TRINO_URL: internal.url, TRUST_PROXY: 'true', TRINO_UI_URL: undefined }, { sandbox });
    published = await startTestBff({ TRINO_URL: internal.url, PUBLIC_URL: 'https://data.example.com/bff', TRINO_UI_URL: 'https://trino.example.com/' }, { sandbox });
  });
  afterAll(async () => {
    await proxied?.close();
    await published?.close();
    await internal?.close();
    await sandbox?.close();
  });

  it('trino-client works although the coordinator names an unreachable host', async () => {
    const token = await proxied.token('alice');
    const trino = Trino.create({ server: proxied.url, extraHeaders: bearer(token) });
    const result = await drain(await trino.query('SELECT * FROM sandbox.gen.rows_1000'));
    expect(result.rows).toHaveLength(1000);
  });

  it('uses X-Forwarded-Proto/Host/Prefix with TRUST_PROXY', async () => {
    const token = await proxied.token('alice');
    const page = await submit(proxied.url, token, 'SELECT 1', {
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'bff.example.com',
      'X-Forwarded-Prefix': '/data',
    });
    expect(page.nextUri).toMatch(/^https:\/\/bff\.example\.com\/data\/v1\/statement\/queued\/[^/]+\/y[0-9a-f]+\/1$/);
    expect(page.infoUri).toBe(`https://bff.example.com/data/ui/query.html?${page.id}`);
  });

  it('infoUri is the BFF’s /ui/query.html, which sends a browser to the query’s page on TRINO_UI_URL (never the coordinator)', async () => {
    const token = await published.token('alice');
    const page = await submit(published.url, token, 'SELECT 1');
    expect(page.infoUri).toBe(`https://data.example.com/bff/ui/query.html?${page.id}`);
    // A link for humans: a browser follows it without a bearer token; Trino's UI authenticates them itself.
    const res = await fetch(page.infoUri.replace('https://data.example.com/bff', published.url), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`https://trino.example.com/ui/query.html?${page.id}`);
    expect(res.headers.get('location')).not.toMatch(/trino-internal|127\.0\.0\.1/);
    // Only a query id is redirected; without TRINO_UI_URL the page is an explained 404 (the BFF serves no Trino UI).
    const bad = await fetch(`${published.url}/ui/query.html?x%2F..%2F`, { redirect: 'manual' });
    expect([bad.status, ((await bad.json()) as Json).reason]).toEqual([400, 'validation_failed']);
    const unpublished = await fetch(`${proxied.url}/ui/query.html?${page.id}`, { redirect: 'manual' });
    expect(unpublished.status).toBe(404);
    expect(((await unpublished.json()) as Json).detail).toMatch(/TRINO_UI_URL/);
  });

  it('uses PUBLIC_URL when set', async () => {
    const token = await published.token('alice');
    const page = await submit(published.url, token, 'SELECT 1', { 'X-Forwarded-Host': 'ignored.example' });
    expect(page.nextUri.startsWith('https://data.example.com/bff/v1/statement/queued/')).toBe(true);
    // Follow it through the real listener: the path after PUBLIC_URL is the BFF's own.
    const next = await fetch(page.nextUri.replace('https://data.example.com/bff', published.url), { headers: bearer(token) });
    const queued = (await next.json()) as Json;
    expect(queued.nextUri.startsWith('https://data.example.com/bff/v1/statement/executing/')).toBe(true);
  });
});

describe('Trino coordinator failures', () => {
  let sandbox: Sandbox;
  let faulty: TrinoCoordinator;
  let bff: TestBff;
  let down: TestBff;
  let token: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    faulty = await startTrinoCoordinator({ pageRows: 100_000 });
    bff = await startTestBff({ TRINO_URL: faulty.url }, { sandbox });
    down = await startTestBff({ TRINO_URL: `http://127.0.0.1:${await freePort()}` }, { sandbox });
    token = await bff.token('alice');
  });
  afterEach(() => faulty.setFault('none'));
  afterAll(async () => {
    await bff?.close();
    await down?.close();
    await faulty?.close();
    await sandbox?.close();
  });

  const expectProblem = async (res: Response, status: number, reason: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await res.json()) as Json).reason).toBe(reason);
  };
  const post = (base: string, sql = 'SELECT 1') => fetch(`${base}/v1/statement`, { method: 'POST', body: sql, headers: bearer(token) });

  it('coordinator unreachable: 502 problem+json; trino-client gets the 502', async () => {
    await expectProblem(await post(down.url), 502, 'upstream_unavailable');
    await expectProblem(
      await fetch(`${down.url}/trino/query`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: '{"sql":"SELECT 1"}' }),
      502,
      'upstream_unavailable',
    );
    const trino = Trino.create({ server: down.url, extraHeaders: bearer(token) });
    await expect(trino.query('SELECT 1')).rejects.toMatchObject({ response: { status: 502 } });
  });

  it('coordinator resets, answers 500 or malformed JSON: 502', async () => {
    for (const fault of ['reset', 'error500', 'malformed'] as const) {
      faulty.setFault(fault);
      await expectProblem(await post(bff.url), 502, 'upstream_unavailable');
    }
  });

  it('coordinator slower than TRINO_TIMEOUT_MS: 504, and the upstream request is closed', async () => {
    // A BFF of its own with the short limit: the other tests' BFF keeps the default, so that its healthy calls (a page
    // of 100,000 rows among them) do not depend on the coordinator answering within 400 ms on a loaded machine.
    const limited = await startTestBff({ TRINO_URL: faulty.url, TRINO_TIMEOUT_MS: '400' }, { sandbox });
    try {
      faulty.setFault('hang');
      // The coordinator never answers: the 504 is the BFF's own deadline, TRINO_TIMEOUT_MS (400 ms here).
      const res = await post(limited.url);
      expect(res.status).toBe(504);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(await res.json()).toMatchObject({ reason: 'upstream_timeout', detail: 'the Trino coordinator did not answer within 400 ms' });
      await waitUntil(() => faulty.openRequests() === 0, { what: 'the hung request to be closed' });
    } finally {
      await limited.close();
    }
  });

  it('a client leaving in the middle of a large page closes the upstream request', async () => {
    const page = await untilExecuting(token, await submit(bff.url, token, 'SELECT * FROM sandbox.gen.rows_1000000'));
    // Each page is 100,000 rows (~2.5 MB): stop reading after the first chunk.
    const req = await openGet(page.nextUri, token, 'first-chunk');
    req.destroy();
    await waitUntil(() => faulty.openRequests() === 0, { intervalMs: 10, what: 'the upstream page request to close' });
  });
});

describe('TRINO_AUTH=basic: a service account impersonating the user', () => {
  let sandbox: Sandbox;
  let coordinator: TrinoCoordinator;
  let bff: TestBff;
  let wrong: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    // Trino takes passwords only over HTTPS (and the BFF boots with TRINO_AUTH=basic only on an https TRINO_URL).
    const tls = testTls();
    coordinator = await startTrinoCoordinator({ tls, auth: { mode: 'basic', users: { 'svc-bff': 's3cret' }, impersonators: ['svc-bff'] } });
    const env = { TRINO_URL: coordinator.url, TRINO_CA_FILE: tls.caFile, TRINO_AUTH: 'basic' };
    bff = await startTestBff({ ...env, TRINO_BASIC_AUTH: 'svc-bff:s3cret' }, { sandbox });
    wrong = await startTestBff({ ...env, TRINO_BASIC_AUTH: 'svc-bff:wrong' }, { sandbox });
  });
  afterAll(async () => {
    await bff?.close();
    await wrong?.close();
    await coordinator?.close();
    await sandbox?.close();
  });

  it('runs queries as the user, authenticated as the service account', async () => {
    const token = await bff.token('alice');
    const result = await drain(await Trino.create({ server: bff.url, extraHeaders: bearer(token) }).query('SELECT current_user'));
    expect(result.rows).toEqual([['alice']]);
    const post = coordinator.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(post.headers.authorization).toBe(`Basic ${Buffer.from('svc-bff:s3cret').toString('base64')}`);
    expect(post.headers['x-trino-user']).toBe('alice');
  });

  it('a credential the coordinator refuses is a 502 (the client’s token is fine)', async () => {
    const token = await wrong.token('alice');
    const res = await fetch(`${wrong.url}/v1/statement`, { method: 'POST', body: 'SELECT 1', headers: bearer(token) });
    expect(res.status).toBe(502);
  });
});

const describeRedis = redisAvailable() ? describe : describe.skip;
describeRedis('query ownership shared through Valkey by two replicas', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let replicaA: TestBff;
  let replicaB: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    redis = await startRedis();
    replicaB = await startTestBff({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV }, { sandbox });
    // Replica A publishes replica B's address: every nextUri a client follows lands on B.
    replicaA = await startTestBff({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, PUBLIC_URL: replicaB.url }, { sandbox });
    for (const r of [replicaA, replicaB]) {
      const store = r.app.get(StateStore);
      await waitUntil(() => store.shared, { timeoutMs: 5000, what: 'Valkey connection' });
    }
  });
  afterAll(async () => {
    await replicaA?.close();
    await replicaB?.close();
    await redis?.stop();
    await sandbox?.close();
  });

  it('a query submitted on one replica is followed on the other, and refused there to others', async () => {
    const alice = await replicaA.token('alice');
    const trino = Trino.create({ server: replicaA.url, extraHeaders: bearer(alice) });
    const result = await drain(await trino.query('SELECT * FROM sandbox.gen.rows_3000'));
    expect(result.rows).toHaveLength(3000);
    const first = await submit(replicaA.url, alice, 'SELECT 1');
    expect(first.nextUri.startsWith(`${replicaB.url}/`)).toBe(true);
    expect(await redis.command('EXISTS', `trino:query-owner:${first.id}`)).toBe(':1');
    const admin = await replicaA.token('admin');
    expect((await fetch(first.nextUri, { headers: bearer(admin) })).status).toBe(404);
    expect((await fetch(first.nextUri, { headers: bearer(alice) })).status).toBe(200);
  });
});

describe('TRINO_AUTH=exchange: a token exchanged for TRINO_AUDIENCE', () => {
  let sandbox: Sandbox;
  let coordinator: TrinoCoordinator;
  let bff: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    const tls = testTls();
    coordinator = await startTrinoCoordinator({
      tls,
      auth: {
        mode: 'jwt',
        verify: { issuer: sandbox.issuer.issuer, jwksUri: sandbox.issuer.jwksUri, audience: 'demo-trino' },
        principalClaim: shippedTrinoPrincipalField(),
      },
    });
    bff = await startTestBff({ TRINO_URL: coordinator.url, TRINO_CA_FILE: tls.caFile, TRINO_AUTH: 'exchange', TRINO_AUDIENCE: 'trino' }, { sandbox });
  });
  afterAll(async () => {
    await bff?.close();
    await coordinator?.close();
    await sandbox?.close();
  });

  it('the coordinator authenticates the exchanged token (never the user’s own) and sees the user', async () => {
    const token = await bff.token('alice');
    const result = await drain(await Trino.create({ server: bff.url, extraHeaders: bearer(token) }).query('SELECT * FROM sandbox.gen.rows_2500'));
    expect(result.error).toBeUndefined();
    expect(result.rows).toHaveLength(2500);
    expect(coordinator.receivedUsers.at(-1)).toBe('alice');
    const sent = coordinator.requests.filter((r) => r.method === 'POST').at(-1)!.headers.authorization as string;
    expect(sent).toMatch(/^Bearer /);
    expect(sent).not.toBe(`Bearer ${token}`);
    const { payload: claims } = await jwtVerify(sent.slice(7), createRemoteJWKSet(new URL(sandbox.issuer.jwksUri)), { issuer: sandbox.issuer.issuer });
    expect([claims.aud].flat()).toContain('demo-trino');
    expect(claims.preferred_username).toBe('alice');
  });
});

describe('repeated X-Trino-Set-* response headers', () => {
  let sandbox: Sandbox;
  let upstream: http.Server;
  let bff: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    // A coordinator that sets two session properties at once: Trino sends one header per property.
    upstream = http.createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-trino-set-session', ['query_max_run_time=2h', 'join_distribution_type=BROADCAST']);
      res.setHeader('x-trino-added-prepare', ['a=SELECT+1%2C+2', 'b=SELECT+3']);
      res.end(JSON.stringify({ id: '20250101_120000_00001_abcde', stats: { state: 'FINISHED' } }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as { port: number }).port;
    bff = await startTestBff({ TRINO_URL: `http://127.0.0.1:${port}` }, { sandbox });
  });
  afterAll(async () => {
    await bff?.close();
    await new Promise((resolve) => upstream?.close(resolve));
    await sandbox?.close();
  });

  it('reach the client as separate headers, never joined with commas', async () => {
    const token = await bff.token('alice');
    const raw = await new Promise<string[]>((resolve, reject) => {
      const req = http.request(`${bff.url}/v1/statement`, { method: 'POST', headers: bearer(token), agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.rawHeaders));
      });
      req.on('error', reject);
      req.end('SET SESSION query_max_run_time = 2h');
    });
    const values = (name: string) => pairs(raw, name);
    expect(values('x-trino-set-session')).toEqual(['query_max_run_time=2h', 'join_distribution_type=BROADCAST']);
    expect(values('x-trino-added-prepare')).toEqual(['a=SELECT+1%2C+2', 'b=SELECT+3']);
  });
});

/** The values of header `name` in a rawHeaders list, one per header line. */
function pairs(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}
