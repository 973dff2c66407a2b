import { randomUUID } from 'node:crypto';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import type { LlmEmulator } from '../../sandbox/llm-provider';
import { StateStore } from '../../src/state/state-store';
import { openAgentSocket, type AgentSocket } from '../support/agent-socket';
import { startTestBff, type TestBff } from '../support/app';
import { httpRequest, waitUntil } from '../support/net';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(120_000);

const QUOTA = 100;

/** Issue 15 item 5: the daily token quota holds across parallel sessions and replicas (reserve before the provider is called). */
describe('agent token quota across sessions and replicas (issue 15 item 5)', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let a: TestBff;
  let b: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    (sandbox.servers.find((s) => s.name === 'llm-provider')!.server as LlmEmulator).setChunkDelayMs(10);
    redis = await startRedis();
    const env = { VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, AGENT_TOKEN_QUOTA: String(QUOTA) };
    a = await startTestBff(env, { sandbox });
    b = await startTestBff(env, { sandbox });
    for (const bff of [a, b]) await waitUntil(() => bff.app.get(StateStore).shared, { what: 'the BFF to reach Valkey' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
    await sandbox?.close();
  });

  async function user() {
    const name = `q-${randomUUID().slice(0, 8)}`;
    const token = await a.token('alice', { claims: { sub: randomUUID(), preferred_username: name, email: `${name}@example.com` } });
    const res = await httpRequest(`${a.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'quota', settings: { maxTokens: 20 } }),
    });
    expect(res.status).toBe(201);
    return { token, id: (JSON.parse(res.body) as { id: string }).id };
  }
  async function open(bff: TestBff, u: { token: string; id: string }): Promise<AgentSocket> {
    const s = await openAgentSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${u.id}/react`, { headers: { authorization: `Bearer ${u.token}` } });
    if (!('ws' in s)) throw new Error(`upgrade refused: ${s.status} ${s.body}`);
    return s;
  }

  it('8 parallel sessions of one user on two replicas never charge more than the quota in total', async () => {
    const u = await user();
    const sockets = await Promise.all(Array.from({ length: 8 }, (_, i) => open(i % 2 ? b : a, u)));
    const charged: number[] = [];
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa';
    await Promise.all(
      sockets.map(async (s) => {
        for (let turn = 0; turn < 4; turn++) {
          let r: Awaited<ReturnType<AgentSocket['turn']>>;
          try {
            r = await s.turn(words);
          } catch {
            return; // closed (4429)
          }
          if (r.done) charged.push(r.done.usage!.total_tokens);
          else return;
        }
      }),
    );
    for (const s of sockets) s.ws.close();
    await Promise.all(sockets.map((s) => s.closed));
    const total = charged.reduce((x, y) => x + y, 0);
    expect(charged.length).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(QUOTA);
    const keys = (await redis.command('KEYS', 'agents:quota:*')).trim();
    expect(keys).toMatch(/^\*1$/); // one counter (the user's day)
    // Nothing stays reserved once every turn has ended.
    await waitUntil(async () => (await redis.command('KEYS', 'agents:quota-reserved:*')).trim() === '*0', { what: 'reservations released' });
  });

  it('a short turn that fits succeeds', async () => {
    const u = await user();
    const s = await open(b, u);
    const r = await s.turn('hello there');
    expect(r.done?.type).toBe('done');
    s.ws.close();
    await s.closed;
  });
});
