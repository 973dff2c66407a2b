import { randomBytes } from 'node:crypto';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { reservedKeyOf } from '../../src/agent-service/quota.service';
import { Revocations } from '../../src/auth/revocation.service';
import { WsTicketService } from '../../src/auth/ws-ticket.service';
import { MlflowPermissionService } from '../../src/mlflow/mlflow-permission.service';
import { KEY_KINDS } from '../../src/state/key-kinds';
import { StateStore } from '../../src/state/state-store';
import { ExchangedTokenCache } from '../../src/token-exchange/exchanged-token-cache';
import { cookieHeader, formLogin } from '../platform/browser-login';
import { startTestBff, type TestBff } from '../support/app';
import { freePort, httpRequest, waitUntil } from '../support/net';
import { startCluster, startSentinelSet, type RedisCluster, type SentinelSet } from '../support/redis-ha';
import { SHARED_VALKEY_ENV, type RedisServer } from '../support/redis';

jest.setTimeout(180_000);

/*
 * The BFF on highly available Valkey, as teams run it: a Sentinel-managed primary (VALKEY_SENTINELS) and a
 * cluster in cluster mode (VALKEY_CLUSTER_NODES), each from real redis-server processes on loopback.
 */

async function submit(bff: TestBff, token: string): Promise<{ id: string; nextUri: string }> {
  const res = await httpRequest(`${bff.url}/v1/statement`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
    body: 'SELECT nationkey FROM tpch.tiny.nation',
  });
  expect(res.status).toBe(200);
  const page = JSON.parse(res.body) as { id: string; nextUri: string };
  return { id: page.id, nextUri: page.nextUri };
}
/** The status of a query's next page, as `token` asks for it. */
const nextPage = async (bff: TestBff, token: string, nextUri: string) =>
  (await httpRequest(`${bff.url}${new URL(nextUri).pathname}`, { headers: { authorization: `Bearer ${token}` } })).status;
/** The browser session's MLflow call (the session cookie is the credential). */
const sessionCall = async (bff: TestBff, jar: Parameters<typeof cookieHeader>[0]) =>
  (await httpRequest(`${bff.url}/mlflow/api/2.0/mlflow/experiments/search?max_results=1`, { headers: { cookie: cookieHeader(jar) } })).status;
/** Keys matching a pattern on one server. */
const count = (server: RedisServer, pattern: string) => server.command('EVAL', "return #redis.call('KEYS', ARGV[1])", '0', pattern);

describe('Valkey behind Sentinel: state survives a failover', () => {
  let sandbox: Sandbox;
  let set: SentinelSet;
  let bff: TestBff;

  beforeAll(async () => {
    // Passwords as deployments have them: the data nodes' (VALKEY_PASSWORD) and the sentinels' own (VALKEY_SENTINEL_PASSWORD).
    const passwords = { password: randomBytes(12).toString('hex'), sentinelPassword: randomBytes(12).toString('hex') };
    [sandbox, set] = await Promise.all([startSandbox(), startSentinelSet(passwords)]);
    bff = await startTestBff({ ...set.env, BFF_SESSION_SECRET: randomBytes(32).toString('base64url'), RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
    await waitUntil(() => bff.app.get(StateStore).shared, { timeoutMs: 10_000, what: 'the BFF to reach the primary' });
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
    await set?.stop();
  });

  it('sessions, grants and query owners written before the primary is killed are served from the promoted replica; writes go on', async () => {
    const [primary, replica] = set.servers;
    const admin = sandbox.issuer.users.find((u) => u.username === 'admin')!;
    const alice = await bff.token('alice');
    const bob = await bff.token('admin', { claims: { realm_access: { roles: ['REGULAR'] } } });
    const permissions = bff.app.get(MlflowPermissionService);

    const jar = await formLogin(bff.url, admin.username, admin.password);
    expect(await sessionCall(bff, jar)).toBe(200);
    const query = await submit(bff, alice);
    await permissions.setGrant('42', 'carol', 'EDIT', 'admin');
    // Valkey replicates asynchronously: the test waits until the replica has every write (what a failover can keep).
    expect(await primary.command('WAIT', '1', '5000')).toBe(':1');

    await primary.kill();
    await waitUntil(async () => (await set.primaryPort()) === replica.port, { timeoutMs: 60_000, what: 'the sentinels to promote the replica' });
    // The BFF follows the new primary: a write lands there.
    const store = bff.app.get(StateStore);
    await waitUntil(
      async () => {
        await store.setJson('failover:probe', { at: Date.now() });
        return store.shared && (await replica.command('EXISTS', 'failover:probe')) === ':1';
      },
      { timeoutMs: 30_000, what: 'the BFF to write to the promoted replica' },
    );

    // What was written before the failover, read from the new primary.
    expect(Number((await count(replica, 'session:*')).slice(1))).toBeGreaterThan(0);
    expect(await count(replica, `trino:query-owner:${query.id}`)).toBe(':1');
    expect(await sessionCall(bff, jar)).toBe(200);
    expect(await nextPage(bff, bob, query.nextUri)).toBe(404); // another user: the owner is known
    expect(await nextPage(bff, alice, query.nextUri)).toBe(200);
    expect(await permissions.grant('42', 'carol')).toMatchObject({ permission: 'EDIT', grantedBy: 'admin' });

    // And new state after it (if a command failed meanwhile, the BFF wrote to memory and copies it back once Valkey answers).
    const later = await submit(bff, alice);
    expect(await nextPage(bff, bob, later.nextUri)).toBe(404);
    await waitUntil(async () => (await store.getJson('failover:probe')) !== undefined && (await count(replica, `trino:query-owner:${later.id}`)) === ':1', {
      timeoutMs: 10_000,
      what: 'the new query owner in the new primary',
    });
    expect(await nextPage(bff, alice, later.nextUri)).toBe(200);
  });
});

describe('Valkey cluster (3 primaries): every feature, keys on every slot range', () => {
  let sandbox: Sandbox;
  let cluster: RedisCluster;
  let a: TestBff;
  let b: TestBff;

  beforeAll(async () => {
    [sandbox, cluster] = await Promise.all([startSandbox(), startCluster({ password: randomBytes(12).toString('hex') })]);
    // SHARED_VALKEY_ENV: these tests are about sharing (the cluster that is not there yet is the early BFF's, below).
    const env = { ...cluster.env, ...SHARED_VALKEY_ENV, BFF_SESSION_SECRET: randomBytes(32).toString('base64url'), RATE_LIMIT_PER_MINUTE: '3' };
    a = await startTestBff(env, { sandbox });
    b = await startTestBff(env, { sandbox });
    for (const bff of [a, b]) await waitUntil(() => bff.app.get(StateStore).shared, { timeoutMs: 10_000, what: 'the BFF to reach the cluster' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sandbox?.close();
    await cluster?.stop();
  });

  it('StateStore: keys of every kind land on all three primaries and read back through the other replica', async () => {
    const sa = a.app.get(StateStore);
    const sb = b.app.get(StateStore);
    for (const kind of KEY_KINDS) {
      const owners = new Set<RedisServer>();
      for (let i = 0; owners.size < 3; i++) {
        expect(i).toBeLessThan(100);
        // A key of the kind; a hash-tagged one varies inside its tag (the tag alone decides its slot).
        const key = kind.example.includes('{') ? kind.example.replace('{', `{${i}:`) : `${kind.example}:${i}`;
        await sa.setJson(key, { kind: kind.name, i });
        expect(await sb.getJson(key)).toEqual({ kind: kind.name, i });
        const owner = await cluster.ownerOf(key);
        expect(await owner.command('EXISTS', key)).toBe(':1');
        owners.add(owner);
      }
    }
    // Sets, counters, leases and single-use takes, on keys of all three primaries.
    for (let i = 0; i < 12; i++) {
      await sa.sAdd(`trino:session-queries:${i}`, 'q1', 60_000);
      await sa.sAdd(`trino:session-queries:${i}`, 'q2', 60_000);
      expect((await sb.sMembers(`trino:session-queries:${i}`)).sort()).toEqual(['q1', 'q2']);
      expect(await sa.incrBy(`ratelimit:test:${i}`, 2, 60_000)).toBe(2);
      expect(await sb.incrBy(`ratelimit:test:${i}`, 1, 60_000)).toBe(3);
      expect(await sa.setIfAbsent(`session:refresh:${i}`, 'a', 60_000)).toBe(true);
      expect(await sb.setIfAbsent(`session:refresh:${i}`, 'b', 60_000)).toBe(false);
      await sa.setJson(`agents:ws-ticket:${i}`, { t: i }, 60_000);
      expect(await sb.takeJson(`agents:ws-ticket:${i}`)).toEqual({ t: i });
      expect(await sa.takeJson(`agents:ws-ticket:${i}`)).toBeUndefined();
    }
    // A SCAN sees every primary.
    for (let i = 0; i < 30; i++) await sa.setJson(`trino:query-owner:scan:${i}`, i);
    expect((await sb.scanJson<number>('trino:query-owner:scan:')).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(sa.shared && sb.shared).toBe(true);
  });

  it('the quota script (two keys, one Lua call) runs in Valkey for owners on every primary: its keys share a slot', async () => {
    const sa = a.app.get(StateStore);
    const sb = b.app.get(StateStore);
    const owners = new Set<RedisServer>();
    for (let i = 0; owners.size < 3; i++) {
      expect(i).toBeLessThan(100);
      const used = `agents:quota:${'b'.repeat(63)}${i}:2026-12-03`;
      const reserved = reservedKeyOf(used);
      expect(await sa.reserve(used, reserved, { min: 10, max: 100 }, 150, 60_000)).toBe(100);
      expect(await sb.reserve(used, reserved, { min: 10, max: 100 }, 150, 60_000)).toBe(50); // the other replica sees the reservation
      const owner = await cluster.ownerOf(used);
      expect(await owner.command('GET', reserved)).toBe('150');
      expect(await sb.settle(used, reserved, 100, 30, 60_000, 60_000)).toBe(30);
      expect(await owner.command('GET', used)).toBe('30');
      expect(await owner.command('GET', reserved)).toBe('50');
      owners.add(owner);
    }
    expect(sa.shared && sb.shared).toBe(true);
  });

  it('exchange cache, revocation broadcast, rate limit, WebSocket tickets and sessions work across the two replicas', async () => {
    // Exchange cache: an exchange made by A is reused by B.
    const cacheA = a.app.get(ExchangedTokenCache);
    await waitUntil(() => cacheA.sharedAvailable && b.app.get(ExchangedTokenCache).sharedAvailable, { what: 'the exchange caches on the cluster' });
    const subject = await a.token('alice');
    const before = sandbox.issuer.stats.exchanges.get(`${JSON.parse(Buffer.from(subject.split('.')[1], 'base64url').toString()).sub}|demo-trino-gw`) ?? 0;
    for (const bff of [a, b]) {
      const res = await httpRequest(`${bff.url}/trino/gateway/backend/all`, { headers: { authorization: `Bearer ${subject}` } });
      expect(res.status).toBe(200);
    }
    const sub = (JSON.parse(Buffer.from(subject.split('.')[1], 'base64url').toString()) as { sub: string }).sub;
    expect((sandbox.issuer.stats.exchanges.get(`${sub}|demo-trino-gw`) ?? 0) - before).toBe(1);
    const cached = await Promise.all(cluster.nodes.map((n) => count(n, 'bff:token-exchange::*')));
    expect(cached.reduce((sum, c) => sum + Number(c.slice(1)), 0)).toBeGreaterThan(0);

    // Revocation: recorded through A, heard by B over pub/sub (B refuses the session's token without asking).
    const victim = await a.token('viewer', { claims: { sid: 'cluster-sid-1' } });
    const me = async (bff: TestBff) => (await httpRequest(`${bff.url}/auth/me`, { headers: { authorization: `Bearer ${victim}` } })).status;
    expect(await me(b)).toBe(200);
    await a.app.get(Revocations).revoke({ issuer: sandbox.issuer.issuer, sid: 'cluster-sid-1' });
    await waitUntil(async () => (await me(b)) === 401, { timeoutMs: 5000, what: 'B to hear of the revocation' });

    // Rate limit (RATE_LIMIT_PER_MINUTE=3): one counter for both replicas. Counting windows are aligned on the minute:
    // four calls that straddle two windows get a 200 for the fourth. Both BFFs run in this process: their clock is moved
    // back to the start of the current window (instead of waiting for the next one).
    const realNow = Date.now.bind(Date);
    const intoWindow = realNow() % 60_000;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - intoWindow);
    try {
      const limited = await a.token('admin', { claims: { realm_access: { roles: ['REGULAR'] } } });
      const statuses: number[] = [];
      for (const bff of [a, b, a, b]) {
        const res = await httpRequest(`${bff.url}/v1/statement`, {
          method: 'POST',
          headers: { authorization: `Bearer ${limited}`, 'content-type': 'text/plain' },
          body: 'SELECT 1',
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      clock.mockRestore();
    }

    // WebSocket tickets: issued by A, redeemed once by B.
    const token = await a.token('alice');
    const { ticket } = await a.app.get(WsTicketService).issue('agent-1', token);
    expect(await b.app.get(WsTicketService).redeem(ticket, 'agent-1')).toBe(token);
    await expect(a.app.get(WsTicketService).redeem(ticket, 'agent-1')).rejects.toThrow();

    // A browser session opened on A is served by B.
    const admin = sandbox.issuer.users.find((u) => u.username === 'admin')!;
    const jar = await formLogin(a.url, admin.username, admin.password);
    expect(await sessionCall(b, jar)).toBe(200);
  });

  /** Resolves once someone other than the test has connected to one of `nodes` (the BFF trying them). */
  async function bffHasReached(nodes: RedisServer[]): Promise<void> {
    // The test's own connections: one readiness check per node at start, then one per node at each look.
    let ours = nodes.length;
    await waitUntil(
      async () => {
        ours += nodes.length;
        let received = 0;
        for (const n of nodes) received += Number(/total_connections_received:(\d+)/.exec(await n.command('INFO', 'stats'))![1]);
        return received > ours;
      },
      { timeoutMs: 20_000, what: 'the BFF to try the nodes' },
    );
  }

  it('a BFF that boots before its cluster serves from memory, then connects by itself once the cluster is up', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const password = randomBytes(12).toString('hex');
    const early = await startTestBff({ VALKEY_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(','), VALKEY_PASSWORD: password }, { sandbox });
    let late: RedisCluster | undefined;
    try {
      const store = early.app.get(StateStore);
      expect(store.shared).toBe(false);
      await store.setJson('trino:query-owner:before-the-cluster', { n: 1 });
      // The BFF reaches the nodes while they listen but serve no slot yet (a cluster being formed).
      late = await startCluster({ password, ports, beforeSlots: bffHasReached });
      await waitUntil(() => store.shared, { timeoutMs: 20_000, what: 'the BFF to connect to the cluster' });
      await store.setJson('trino:query-owner:after-the-cluster', { n: 2 });
      const owner = await late.ownerOf('trino:query-owner:after-the-cluster');
      expect(await owner.command('GET', 'trino:query-owner:after-the-cluster')).toBe('{"n":2}');
      // Written before, copied into the cluster once it answered.
      const before = await late.ownerOf('trino:query-owner:before-the-cluster');
      await waitUntil(async () => (await before.command('GET', 'trino:query-owner:before-the-cluster')) === '{"n":1}', {
        timeoutMs: 10_000,
        what: 'the early write copied back',
      });
    } finally {
      await early.close();
      await late?.stop();
    }
  });
});
