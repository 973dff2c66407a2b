import { startSandbox, type Sandbox } from '../../sandbox/index';
import { StateStore } from '../../src/state/state-store';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';
import { startRedis, type RedisServer } from '../support/redis';
import { call, PROBLEM_JSON } from './reliability-support';

jest.setTimeout(60_000);

const LIMIT = 3;

/**
 * Per-user rate limits on the expensive routes (HardeningModule): RATE_LIMIT_PER_MINUTE calls per user
 * per route per minute, counted in Valkey so that two replicas enforce one limit; beyond it a 429
 * problem+json `rate_limited` with Retry-After; other users and cheap routes are not affected.
 */
describe('per-user rate limits on expensive routes', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let a: TestBff;
  let b: TestBff;

  beforeAll(async () => {
    [sandbox, redis] = await Promise.all([startSandbox(), startRedis()]);
    // The count is shared only while Valkey answers: a command slower than VALKEY_COMMAND_TIMEOUT_MS (500 ms by
    // default) is an outage and each replica counts in memory. On a loaded machine a command can take that long
    // (the 4th call was then answered 200 by the replica that had counted alone); 10 s keeps this test about sharing.
    const env = { VALKEY_URL: redis.url, RATE_LIMIT_PER_MINUTE: String(LIMIT), VALKEY_COMMAND_TIMEOUT_MS: '10000' };
    [a, b] = await Promise.all([startTestBff(env, { sandbox }), startTestBff(env, { sandbox })]);
    await waitUntil(() => a.app.get(StateStore).shared && b.app.get(StateStore).shared, { timeoutMs: 5000, what: 'both replicas on Valkey' });
  });
  const realNow = Date.now.bind(Date);
  beforeEach(() => {
    // Counting windows are aligned on the minute, and a test must not straddle two. Both BFFs run in
    // this process: their clock is moved back to the start of the current window (instead of waiting
    // for the next one), which leaves each test a whole minute.
    const intoWindow = realNow() % 60_000;
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() - intoWindow);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await sandbox?.close();
    await redis?.stop();
  });

  const query = (bff: TestBff, token: string) => call(bff.url, 'POST', '/trino/query', { token, json: { sql: 'SELECT 1' } });

  it('counts across replicas (Valkey), answers 429 rate_limited with Retry-After, and only for that user and route', async () => {
    const alice = await a.token('alice');
    const admin = await a.token('admin');
    const statuses = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await query(i % 2 ? b : a, alice)).status);
    expect(statuses).toEqual([200, 200, 200]);

    const limited = await query(b, alice);
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(limited.json).toMatchObject({ status: 429, reason: 'rate_limited' });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Another user, a cheap route, another expensive route: not affected.
    expect((await query(a, admin)).status).toBe(200);
    expect((await call(a.url, 'GET', '/auth/me', { token: alice })).status).toBe(200);
    const statement = await call(a.url, 'POST', '/v1/statement', { token: alice, body: 'SELECT 1', headers: { 'content-type': 'text/plain' } });
    expect(statement.status).toBe(200);
    // A new token of the same user is the same user.
    expect((await query(a, await a.token('alice'))).status).toBe(429);
  });

  it('applies to every expensive route: POST /v1/statement, /chatbot/run-workflow-trino, /api/agents/:id/ws-ticket', async () => {
    const user = await a.token('alice', { claims: { sub: 'rate-limit-routes', preferred_username: 'carol' } });
    const agent = await call(a.url, 'POST', '/api/agents', { token: user, json: { name: 'Limited' } });
    expect(agent.status).toBe(201);
    const routes: Array<() => ReturnType<typeof call>> = [
      () => call(a.url, 'POST', '/v1/statement', { token: user, body: 'SELECT 1', headers: { 'content-type': 'text/plain' } }),
      () =>
        call(a.url, 'POST', '/chatbot/run-workflow-trino', {
          token: user,
          json: { catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'profile', parameters: {} },
        }),
      () => call(a.url, 'POST', `/api/agents/${agent.json!.id as string}/ws-ticket`, { token: user }),
    ];
    for (const route of routes) {
      const statuses: number[] = [];
      for (let i = 0; i <= LIMIT; i++) statuses.push((await route()).status);
      expect(statuses.slice(0, LIMIT).every((s) => s >= 200 && s < 300)).toBe(true);
      expect(statuses[LIMIT]).toBe(429);
    }
  });

  it('keeps limiting (from memory) while Valkey is down: never a 500', async () => {
    const user = await a.token('alice', { claims: { sub: 'rate-limit-outage', preferred_username: 'dave' } });
    await redis.kill();
    try {
      await waitUntil(() => !a.app.get(StateStore).shared, { timeoutMs: 5000, what: 'Valkey gone' });
      const statuses: number[] = [];
      for (let i = 0; i <= LIMIT; i++) statuses.push((await query(a, user)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await redis.restart();
    }
  });
});
