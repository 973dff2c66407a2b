import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { llmReplyFor } from '../../sandbox/llm-provider';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import type { TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { TOKEN_CACHE_NAMESPACE } from '../../src/token-exchange/exchanged-token-cache';
import { freePort, httpRequest, waitUntil } from '../support/net';
import { spawnNode, type ManagedProcess } from '../support/processes';
import { redisAvailable, SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';
import { isRefused, openAgentSocket, type AgentSocket } from '../support/agent-socket';
import { ROOT, type Json } from './deploy-files';

/**
 * Two replicas of the built BFF (`node dist/main.js`, NODE_ENV=production) against one sandbox
 * (OIDC issuer, Trino coordinator, Trino Gateway, LLM...) and one real redis-server standing in
 * for Valkey: the state lives only there, so any replica serves any request (issue 10 items 4, 5).
 *
 * BFF_MAIN may name another build of the same code (e.g. a private `tsc --outDir`); default
 * dist/main.js, which `npm test` builds first.
 */
jest.setTimeout(120_000);

const MAIN = process.env.BFF_MAIN ?? join(ROOT, 'dist/main.js');

interface Replica {
  name: string;
  url: string;
  proc: ManagedProcess;
}

describe('two BFF replicas sharing one Valkey (redis-server)', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let a: Replica;
  let b: Replica;
  let gateway: TrinoGatewayEmulator;
  let coordinator: TrinoCoordinator;
  const replicas: Replica[] = [];

  /** Ready the way Kubernetes sees it: /health/ready 200 with every check up (Valkey included). */
  async function startReplica(name: string): Promise<Replica> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = await spawnNode(MAIN, {
      name,
      env: {
        ...sandbox.env,
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        VALKEY_URL: redis.url,
        ...SHARED_VALKEY_ENV,
        BFF_SESSION_SECRET: 'replica-test-session-secret-0123456789abcdef',
        LOG_LEVEL: 'warn',
        TRUST_PROXY: 'false',
      },
      ready: async () => {
        try {
          const res = await fetch(`${url}/health/ready`);
          if (res.status !== 200) return false;
          const body = (await res.json()) as { details?: Record<string, { status: string }> };
          const checks = Object.entries(body.details ?? {});
          return checks.some(([k]) => k === 'valkey') && checks.every(([, v]) => v.status === 'up');
        } catch {
          return false;
        }
      },
      timeoutMs: 40_000,
    });
    const replica = { name, url, proc };
    replicas.push(replica);
    return replica;
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const json = (token: string) => ({ ...bearer(token), 'content-type': 'application/json' });
  /** A URI the BFF wrote for replica `from`, sent to replica `to` instead. */
  const via = (uri: string, from: Replica, to: Replica) => {
    expect(uri.startsWith(`${from.url}/`)).toBe(true);
    return to.url + uri.slice(from.url.length);
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
    if (!redisAvailable()) throw new Error('redis-server is missing (scripts/setup.sh --test installs it)');
    [sandbox, redis] = await Promise.all([startSandbox(), startRedis()]);
    gateway = sandbox.servers.find((s) => s.name === 'trino-gateway')!.server as TrinoGatewayEmulator;
    coordinator = sandbox.servers.find((s) => s.name === 'trino-coordinator')!.server as TrinoCoordinator;
    [a, b] = await Promise.all([startReplica('bff-a'), startReplica('bff-b')]);
  });

  afterAll(async () => {
    for (const r of replicas) await r.proc.stop({ graceMs: 5000 });
    await sandbox?.close();
    await redis?.stop();
  });

  it('both replicas run in production mode against the same issuer and the same Valkey', async () => {
    for (const r of [a, b]) {
      const ready = (await (await fetch(`${r.url}/health/ready`)).json()) as Json;
      expect(ready.details.valkey.status).toBe('up');
      expect(ready.details['token-exchange-cache'].status).toBe('up');
    }
    expect(a.url).not.toBe(b.url);
  });

  it('an exchanged token cached by one replica is reused by the other: one exchange at the issuer', async () => {
    const subject = await sandbox.issuer.issueToken({ user: 'alice' });
    const key = `${decodeJwt(subject).sub}|${sandbox.env.WORKSPACE_ID}-trino-gw`;
    const before = sandbox.issuer.stats.exchanges.get(key) ?? 0;
    const exchanges = () => (sandbox.issuer.stats.exchanges.get(key) ?? 0) - before;
    gateway.clearRequests();

    const viaA = await httpRequest(`${a.url}/trino/gateway/backend/all`, { headers: bearer(subject) });
    expect(viaA.status).toBe(200);
    expect(exchanges()).toBe(1);
    // In Valkey under the audience and the SHA-256 of the subject token (never the token itself).
    const valkeyKey = `${TOKEN_CACHE_NAMESPACE}::${sandbox.env.WORKSPACE_ID}-trino-gw:${createHash('sha256').update(subject).digest('hex')}`;
    await waitUntil(async () => (await redis.command('EXISTS', valkeyKey)) === ':1', { timeoutMs: 3000, what: 'the exchange to be cached in Valkey' });

    const viaB = await httpRequest(`${b.url}/trino/gateway/backend/all`, { headers: bearer(subject) });
    expect(viaB.status).toBe(200);
    expect(JSON.parse(viaB.body)).toEqual(JSON.parse(viaA.body));
    expect(exchanges()).toBe(1);
    // The gateway received the same exchanged token from both replicas, never the user's own.
    const [first, second] = gateway.authorizationHeaders.slice(-2);
    expect(second).toBe(first);
    expect(first).not.toBe(`Bearer ${subject}`);
    expect(decodeJwt(first.slice('Bearer '.length)).aud).toBe(`${sandbox.env.WORKSPACE_ID}-trino-gw`);
  });

  it('a Trino query submitted through one replica is followed to the end through the other (nextUri via B)', async () => {
    const alice = await sandbox.issuer.issueToken({ user: 'alice' });
    const submitted = await httpRequest(`${a.url}/v1/statement`, {
      method: 'POST',
      headers: { ...bearer(alice), 'content-type': 'text/plain' },
      body: 'SELECT * FROM sandbox.gen.rows_3000',
    });
    expect(submitted.status).toBe(200);
    let page = JSON.parse(submitted.body) as Json;
    const queryId = page.id as string;
    expect(page.nextUri).toMatch(new RegExp(`^${a.url}/v1/statement/queued/${queryId}/`));

    const rows: unknown[][] = [];
    let followedOnB = 0;
    while (page.nextUri) {
      const res = await httpRequest(via(page.nextUri, a, b), { headers: bearer(alice) });
      expect(res.status).toBe(200);
      followedOnB++;
      page = JSON.parse(res.body) as Json;
      // B writes its own base into the URIs it hands out; the next poll goes back through A.
      if (page.nextUri) {
        expect(page.nextUri.startsWith(`${b.url}/`)).toBe(true);
        const back = await httpRequest(via(page.nextUri, b, a), { headers: bearer(alice) });
        expect(back.status).toBe(200);
        page = JSON.parse(back.body) as Json;
      }
      if (page.data) rows.push(...page.data);
    }
    expect(page.error).toBeUndefined();
    expect(page.stats.state).toBe('FINISHED');
    expect(followedOnB).toBeGreaterThan(0);
    // Page boundaries alternate between the replicas, so count the rows the pages carried.
    expect(rows.length).toBeGreaterThan(0);
    expect(coordinator.receivedUsers.at(-1)).toBe('alice');
    const info = await httpRequest(`${b.url}/v1/query/${queryId}`, { headers: bearer(alice) });
    expect(info.status).toBe(200);
  });

  it('the full result arrives when every nextUri goes to the other replica, and ownership holds there too', async () => {
    const alice = await sandbox.issuer.issueToken({ user: 'alice' });
    const admin = await sandbox.issuer.issueToken({ user: 'admin' });
    const submitted = await httpRequest(`${a.url}/v1/statement`, { method: 'POST', headers: bearer(alice), body: 'SELECT * FROM sandbox.gen.rows_2500' });
    let page = JSON.parse(submitted.body) as Json;
    // Another user following the nextUri on B: 404, exactly as for a query that does not exist.
    const stranger = await httpRequest(via(page.nextUri, a, b), { headers: bearer(admin) });
    expect(stranger.status).toBe(404);
    const rows: unknown[][] = [];
    let from = a;
    while (page.nextUri) {
      const to = from === a ? b : a;
      const res = await httpRequest(via(page.nextUri, from, to), { headers: bearer(alice) });
      expect(res.status).toBe(200);
      page = JSON.parse(res.body) as Json;
      if (page.data) rows.push(...page.data);
      from = to;
    }
    expect(page.stats.state).toBe('FINISHED');
    expect(rows).toHaveLength(2500);
    expect(rows[0]).toEqual([1, 'row-1']);
    expect(rows[2499]).toEqual([2500, 'row-2500']);
  });

  it('an agent created on one replica is served, changed and deleted by the other', async () => {
    const alice = await sandbox.issuer.issueToken({ user: 'alice' });
    const created = await httpRequest(`${a.url}/api/agents`, {
      method: 'POST',
      headers: json(alice),
      body: JSON.stringify({ name: 'shared agent', description: 'made on A' }),
    });
    expect(created.status).toBe(201);
    const agent = JSON.parse(created.body) as Json;

    const onB = await httpRequest(`${b.url}/api/agents/${agent.id}`, { headers: bearer(alice) });
    expect(onB.status).toBe(200);
    expect(JSON.parse(onB.body)).toEqual(agent);
    const listed = JSON.parse((await httpRequest(`${b.url}/api/agents`, { headers: bearer(alice) })).body) as Json[];
    expect(listed.map((x) => x.id)).toContain(agent.id);

    const patched = await httpRequest(`${b.url}/api/agents/${agent.id}/settings`, {
      method: 'PATCH',
      headers: json(alice),
      body: JSON.stringify({ temperature: 0.2 }),
    });
    expect(patched.status).toBe(200);
    const onA = JSON.parse((await httpRequest(`${a.url}/api/agents/${agent.id}`, { headers: bearer(alice) })).body) as Json;
    expect(onA.settings.temperature).toBe(0.2);

    // Owner-only on both replicas.
    const otherUser = await sandbox.issuer.issueToken({
      user: 'alice',
      claims: { sub: '11111111-2222-4333-8444-555555555555', preferred_username: 'mallory', email: 'mallory@example.com' },
    });
    expect((await httpRequest(`${b.url}/api/agents/${agent.id}`, { headers: bearer(otherUser) })).status).toBe(404);

    expect((await httpRequest(`${b.url}/api/agents/${agent.id}`, { method: 'DELETE', headers: bearer(alice) })).status).toBe(204);
    expect((await httpRequest(`${a.url}/api/agents/${agent.id}`, { headers: bearer(alice) })).status).toBe(404);
  });

  it('a WebSocket ticket issued by one replica opens the conversation on the other (single use across both)', async () => {
    const alice = await sandbox.issuer.issueToken({ user: 'alice' });
    const agent = JSON.parse(
      (await httpRequest(`${a.url}/api/agents`, { method: 'POST', headers: json(alice), body: JSON.stringify({ name: 'ticketed' }) })).body,
    ) as Json;
    const ticket = JSON.parse((await httpRequest(`${a.url}/api/agents/${agent.id}/ws-ticket`, { method: 'POST', headers: bearer(alice) })).body) as Json;
    const s = (await openAgentSocket(`${b.url.replace(/^http/, 'ws')}${ticket.url}`)) as AgentSocket;
    expect(isRefused(s)).toBe(false);
    expect((await s.turn('across replicas')).text).toBe(llmReplyFor('across replicas'));
    s.ws.close();
    await s.closed;
    const reused = await openAgentSocket(`${a.url.replace(/^http/, 'ws')}${ticket.url}`);
    expect(isRefused(reused) && reused.status).toBe(401);
  });

  it("rolling restart: SIGTERM closes the replica's sessions with 1001 and it exits; the client reconnects to the other", async () => {
    const alice = await sandbox.issuer.issueToken({ user: 'alice' });
    const agent = JSON.parse(
      (await httpRequest(`${a.url}/api/agents`, { method: 'POST', headers: json(alice), body: JSON.stringify({ name: 'survivor' }) })).body,
    ) as Json;
    const first = (await openAgentSocket(`${a.url.replace(/^http/, 'ws')}/api/agents/${agent.id}/react`, { headers: bearer(alice) })) as AgentSocket;
    expect(isRefused(first)).toBe(false);
    expect((await first.turn('before the restart')).text).toBe(llmReplyFor('before the restart'));

    const exit = await a.proc.stop({ signal: 'SIGTERM', graceMs: 15_000 });
    // Nest's shutdown hooks ran, then re-raised SIGTERM (or exited 0): not killed by the grace timeout.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(await first.closed).toEqual({ code: 1001, reason: 'server shutting down' });

    const again = (await openAgentSocket(`${b.url.replace(/^http/, 'ws')}/api/agents/${agent.id}/react`, { headers: bearer(alice) })) as AgentSocket;
    expect(isRefused(again)).toBe(false);
    expect((await again.turn('after the restart')).text).toBe(llmReplyFor('after the restart'));
    again.ws.close();
    await again.closed;
  });
});
