import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import WebSocket from 'ws';
import { llmReplyFor, type LlmEmulator } from '../../sandbox/llm-provider';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { AgentGateway } from '../../src/agent-service/agent.gateway';
import { ownerKeyOf } from '../../src/agent-service/agent.model';
import { StateStore } from '../../src/state/state-store';
import { openAgentSocket, type AgentSocket, type Frame, type Refused } from '../support/agent-socket';
import { startTestBff, type TestBff } from '../support/app';
import { httpRequest, waitUntil } from '../support/net';
import { startNginx, type NginxServer } from '../support/nginx';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(30_000);

const QUOTA = 40;
const ALL_FRAMES: string[] = [];

/** Opens a WebSocket with the real `ws` client: the session, or the HTTP answer that refused the upgrade (every frame's text also goes to ALL_FRAMES). */
function openWs(url: string, opts: { headers?: Record<string, string>; origin?: string } = {}): Promise<AgentSocket | Refused> {
  return openAgentSocket(url, { ...opts, onText: (text) => ALL_FRAMES.push(text) });
}

async function session(url: string, opts?: Parameters<typeof openWs>[1]): Promise<AgentSocket> {
  const s = await openWs(url, opts);
  if (!('ws' in s)) throw new Error(`upgrade refused: ${s.status} ${s.body}`);
  return s;
}

async function refused(url: string, opts?: Parameters<typeof openWs>[1]): Promise<Refused & { problem: Record<string, unknown> }> {
  const r = await openWs(url, opts);
  if ('ws' in r) {
    r.ws.close();
    throw new Error('the upgrade was accepted');
  }
  let problem: Record<string, unknown> = {};
  try {
    problem = JSON.parse(r.body) as Record<string, unknown>;
  } catch {
    /* nginx's own HTML error pages */
  }
  return { ...r, problem };
}

/** One turn: send a user message, collect deltas until done or error. */
async function turn(s: AgentSocket, content: string): Promise<{ text: string; deltas: number; done?: Frame; error?: Frame }> {
  s.ws.send(JSON.stringify({ type: 'user_message', content }));
  let text = '';
  let deltas = 0;
  for (;;) {
    const f = await s.next();
    if (f.type === 'delta') {
      text += f.content;
      deltas++;
    } else if (f.type === 'done') return { text, deltas, done: f };
    else if (f.type === 'error') return { text, deltas, error: f };
    else throw new Error(`unexpected frame ${JSON.stringify(f)}`);
  }
}

describe('agents WebSocket /api/agents/:id/react (real ws client, real redis-server)', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let bff: TestBff;
  let llm: LlmEmulator;
  let wsBase: string;
  let llmKey: string;

  /** A REGULAR user of its own (own agents, own quota). */
  async function newUser(opts: { expiresInS?: number; roles?: string[] } = {}) {
    const name = `u-${randomUUID().slice(0, 8)}`;
    const sub = randomUUID();
    const claims: Record<string, unknown> = { sub, preferred_username: name, email: `${name}@example.com` };
    if (opts.roles) claims.realm_access = { roles: opts.roles };
    const token = await bff.token('alice', { claims, expiresInS: opts.expiresInS });
    return { name, sub, token };
  }

  async function createAgent(token: string, settings: Record<string, unknown> = {}): Promise<string> {
    const res = await httpRequest(`${bff.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ws test agent', settings }),
    });
    expect(res.status).toBe(201);
    return (JSON.parse(res.body) as { id: string }).id;
  }

  const react = (id: string, query = '') => `${wsBase}/api/agents/${id}/react${query}`;

  beforeAll(async () => {
    sandbox = await startSandbox();
    llm = sandbox.servers.find((s) => s.name === 'llm-provider')!.server as LlmEmulator;
    llm.setChunkDelayMs(0); // the sandbox paces its stream for demos; the tests set their own pace
    llmKey = sandbox.env.LLM_API_KEY;
    redis = await startRedis();
    // SHARED_VALKEY_ENV: the tests read and write the quota counters in Valkey themselves.
    bff = await startTestBff({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, AGENT_TOKEN_QUOTA: String(QUOTA) }, { sandbox });
    await waitUntil(() => bff.app.get(StateStore).shared, { what: 'the BFF to reach Valkey' });
    wsBase = bff.url.replace(/^http/, 'ws');
  });

  afterAll(async () => {
    await bff?.close();
    await redis?.stop();
    await sandbox?.close();
    // The provider key never reached a client, whatever happened above.
    for (const f of ALL_FRAMES) expect(f).not.toContain(llmKey);
  });

  afterEach(() => {
    llm.setFault('none');
    llm.setStreamFault(null);
    llm.setChunkDelayMs(0);
  });

  it('streams a conversation: deltas, then done with usage; the next turn carries the history', async () => {
    const u = await newUser();
    const id = await createAgent(u.token, { systemPrompt: 'Be brief.' });
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });

    llm.setChunkDelayMs(15); // a pace at which every word arrives on its own
    const first = await turn(s, 'hello streaming world');
    expect(first.error).toBeUndefined();
    expect(first.text).toBe(llmReplyFor('hello streaming world'));
    expect(first.deltas).toBe(5); // streamed: one frame per word as the provider sent it
    llm.setChunkDelayMs(0);
    // prompt: "Be brief." (2) + "hello streaming world" (3); completion: "Sandbox reply: hello streaming world" (5)
    expect(first.done!.usage).toEqual({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });

    const second = await turn(s, 'again');
    expect(second.text).toBe(llmReplyFor('again'));
    // history: system 2 + user 3 + assistant 5 + user 1
    expect(second.done!.usage!.prompt_tokens).toBe(11);

    // The provider got the BFF's key, the agent's model and settings; the user's token never left the BFF.
    const sent = llm.requests.filter((r) => r.path === '/v1/chat/completions').slice(-1)[0];
    expect(sent.headers.authorization).toBe(`Bearer ${llmKey}`);
    const body = JSON.parse(sent.body!) as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'sandbox-chat', stream: true, temperature: 0.7, max_tokens: expect.any(Number) });
    expect(sent.body).not.toContain(u.token);
    s.ws.close(1000);
    expect((await s.closed).code).toBe(1000);
  });

  it('accepts the token from ?access-token=', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const s = await session(react(id, `?access-token=${u.token}`));
    expect((await turn(s, 'via query')).text).toBe(llmReplyFor('via query'));
    s.ws.close();
  });

  it('accepts a single-use ticket; the store holds neither the ticket nor the token', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const other = await createAgent(u.token);
    const issue = async (agentId: string) => {
      const res = await httpRequest(`${bff.url}/api/agents/${agentId}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${u.token}` } });
      expect(res.status).toBe(201);
      return JSON.parse(res.body) as { ticket: string; url: string; expiresInS: number; expiresAt: string };
    };
    const t = await issue(id);
    expect(t.expiresInS).toBe(30);
    expect(t.url).toBe(`/api/agents/${id}/react?ticket=${t.ticket}`);
    expect(Date.parse(t.expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);

    // In Valkey: under the SHA-256 of the ticket, sealed, with a TTL of at most 30 s.
    const stored = await storedTickets();
    expect(stored.length).toBeGreaterThan(0);
    for (const entry of stored) {
      expect(entry.ttlMs).toBeGreaterThan(0);
      expect(entry.ttlMs).toBeLessThanOrEqual(30_000);
      expect(`${entry.key} ${entry.value}`).not.toContain(u.token);
      expect(`${entry.key} ${entry.value}`).not.toContain(t.ticket);
    }

    const s = await session(`${wsBase}${t.url}`);
    expect((await turn(s, 'with a ticket')).text).toBe(llmReplyFor('with a ticket'));
    s.ws.close();

    const reused = await refused(`${wsBase}${t.url}`);
    expect(reused.status).toBe(401);
    expect(reused.problem).toMatchObject({ reason: 'token_invalid', detail: 'the ticket is unknown, already used or expired' });

    const forOther = await issue(other);
    const wrongAgent = await refused(react(id, `?ticket=${forOther.ticket}`));
    expect(wrongAgent.status).toBe(401);
    expect(wrongAgent.problem.detail).toBe('the ticket was issued for another agent');

    const both = await issue(id);
    const ambiguous = await refused(react(id, `?ticket=${both.ticket}`), { headers: { authorization: `Bearer ${u.token}` } });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.problem.reason).toBe('ambiguous_token');

    const forged = await refused(react(id, `?ticket=${'A'.repeat(43)}`));
    expect(forged.status).toBe(401);
  });

  /** Every ws-ticket entry in Valkey: key, value, TTL. */
  async function storedTickets(): Promise<Array<{ key: string; value: string; ttlMs: number }>> {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const keys = await client.keys('agents:ws-ticket:*');
      return await Promise.all(keys.map(async (key) => ({ key, value: (await client.get(key)) ?? '', ttlMs: Number(await client.pTTL(key)) })));
    } finally {
      await client.close();
    }
  }

  it('refuses before any frame, with the HTTP status and problem the REST routes give', async () => {
    const owner = await newUser();
    const id = await createAgent(owner.token);
    const stranger = await newUser();
    const viewer = await bff.token('viewer');
    const expired = await bff.token('alice', { expiresInS: -3600 });

    const none = await refused(react(id));
    expect(none.status).toBe(401);
    expect(none.headers['content-type']).toBe('application/problem+json');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="platform-bff"');
    expect(none.problem).toMatchObject({ status: 401, reason: 'token_missing', instance: `/api/agents/${id}/react` });
    const restNone = await httpRequest(`${bff.url}/api/agents/${id}`);
    expect(JSON.parse(restNone.body).reason).toBe(none.problem.reason);

    const bad = await refused(react(id, '?access-token=not.a.jwt'));
    expect(bad.status).toBe(401);
    expect(bad.problem.reason).toBe('token_invalid');
    const bearerBad = await refused(react(id), { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } });
    expect(bearerBad.status).toBe(401);

    const old = await refused(react(id), { headers: { authorization: `Bearer ${expired}` } });
    expect(old.status).toBe(401);
    expect(old.problem.reason).toBe('token_expired');

    const role = await refused(react(id), { headers: { authorization: `Bearer ${viewer}` } });
    expect(role.status).toBe(403);
    expect(role.problem.reason).toBe('insufficient_role');

    const notYours = await refused(react(id), { headers: { authorization: `Bearer ${stranger.token}` } });
    expect(notYours.status).toBe(404);
    expect(notYours.problem.reason).toBe('not_found');
    const restNotYours = await httpRequest(`${bff.url}/api/agents/${id}`, { headers: { authorization: `Bearer ${stranger.token}` } });
    expect(restNotYours.status).toBe(404);

    const unknown = await refused(react(randomUUID()), { headers: { authorization: `Bearer ${owner.token}` } });
    expect(unknown.status).toBe(404);
    const malformed = await refused(react('not-an-id'), { headers: { authorization: `Bearer ${owner.token}` } });
    expect(malformed.status).toBe(400);
    const twoTokens = await refused(react(id, `?access-token=${stranger.token}`), { headers: { authorization: `Bearer ${owner.token}` } });
    expect(twoTokens.status).toBe(400);
    expect(twoTokens.problem.reason).toBe('ambiguous_token');
    const otherPath = await refused(`${wsBase}/api/agents/${id}/other`, { headers: { authorization: `Bearer ${owner.token}` } });
    expect(otherPath.status).toBe(404);

    const foreign = await refused(react(id), { headers: { authorization: `Bearer ${owner.token}` }, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers['content-type']).toBe('application/problem+json');
    expect(foreign.problem).toMatchObject({ reason: 'origin_not_allowed', title: 'Origin not allowed', status: 403, type: 'urn:problem:bff:origin_not_allowed' });
    expect(foreign.problem.detail).toMatch(/cross-origin/);
    // Default (WS_ALLOWED_ORIGINS unset): the BFF's own origin is allowed.
    const same = await session(react(id), { headers: { authorization: `Bearer ${owner.token}` }, origin: bff.url });
    same.ws.close();

    // An ADMIN may talk to any agent.
    const admin = await session(react(id), { headers: { authorization: `Bearer ${await bff.token('admin')}` } });
    expect((await turn(admin, 'admin here')).text).toBe(llmReplyFor('admin here'));
    admin.ws.close();
  });

  it('refuses a token inside its clock-skew grace (the session would close at once); REST still takes it', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const graced = await bff.token('alice', { claims: { sub: u.sub, preferred_username: u.name }, expiresInS: -5 });
    const rest = await httpRequest(`${bff.url}/api/agents/${id}`, { headers: { authorization: `Bearer ${graced}` } });
    expect(rest.status).toBe(200); // AUTH_CLOCK_SKEW_S (30 s) tolerates it
    const r = await refused(react(id), { headers: { authorization: `Bearer ${graced}` } });
    expect(r.status).toBe(401);
    expect(r.problem.reason).toBe('token_expired');
  });

  it('applies new settings from the next turn, and ends with 4404 when the agent is deleted', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const auth = { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' };
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    expect((await turn(s, 'first')).done).toBeDefined();
    const patched = await httpRequest(`${bff.url}/api/agents/${id}/settings`, {
      method: 'PATCH',
      headers: auth,
      body: JSON.stringify({ model: 'sandbox-chat-mini', maxTokens: 2, temperature: 0 }),
    });
    expect(patched.status).toBe(200);
    const capped = await turn(s, 'a reply longer than two words');
    expect(capped.text).toBe('Sandbox reply: '); // max_tokens 2: two words
    const sent = JSON.parse(llm.requests.filter((r) => r.path === '/v1/chat/completions').slice(-1)[0].body!) as Record<string, unknown>;
    expect(sent).toMatchObject({ model: 'sandbox-chat-mini', max_tokens: 2, temperature: 0 });

    expect((await httpRequest(`${bff.url}/api/agents/${id}`, { method: 'DELETE', headers: { authorization: auth.authorization } })).status).toBe(204);
    expect((await turn(s, 'anyone there?')).error).toEqual({ type: 'error', reason: 'not_found', detail: 'the agent no longer exists' });
    expect(await s.closed).toEqual({ code: 4404, reason: 'not_found' });
  });

  it('closes with 4401 when the token expires', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    // exp is whole seconds: `expiresInS: 2` left 1 to 2 s for the upgrade and a whole turn (Valkey reads, the provider's
    // stream, the settlement), which a loaded machine can outlast (the upgrade then refused, or the turn cut by the 4401).
    // 5 s leaves at least 4 s; the test waits for the close either way.
    const shortLived = await bff.token('alice', { claims: { sub: u.sub, preferred_username: u.name }, expiresInS: 5 });
    const { exp } = JSON.parse(Buffer.from(shortLived.split('.')[1], 'base64url').toString('utf8')) as { exp: number };
    const s = await session(react(id), { headers: { authorization: `Bearer ${shortLived}` } });
    expect((await turn(s, 'before expiry')).done).toBeDefined();
    // The BFF closes the idle session on its own (the client sends nothing more), and not before the token's exp.
    const closed = await s.closed;
    expect(closed).toEqual({ code: 4401, reason: 'token_expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
  });

  /** The user's counter of today in Valkey, as the quota service names it (SHA-256 of issuer and subject). */
  function quotaKeyOf(token: string): string {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { iss: string; sub: string };
    return `agents:quota:${ownerKeyOf({ issuer: claims.iss, subject: claims.sub })}:${new Date().toISOString().slice(0, 10)}`;
  }

  it('never charges past the quota: turns are admitted only while their reservation fits, the last one is capped', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    let charged = 0;
    let refusal: Frame | undefined;
    for (let turns = 0; turns < 20 && s.ws.readyState === WebSocket.OPEN && !refusal; turns++) {
      const t = await turn(s, 'spend some tokens please');
      if (!t.done) refusal = t.error;
      else if ((charged += t.done.usage!.total_tokens) >= QUOTA) break;
    }
    // What Valkey holds is exactly what the turns reported, and never more than the quota.
    expect(Number(await redis.command('GET', quotaKeyOf(u.token)))).toBe(charged);
    expect(charged).toBeLessThanOrEqual(QUOTA);
    expect(charged).toBeGreaterThan(QUOTA / 2);
    if (refusal) expect(refusal).toMatchObject({ type: 'error', reason: 'rate_limited' });
    else expect(await s.closed).toEqual({ code: 4429, reason: 'rate_limited' });
  });

  it('refuses a turn that does not fit with an error frame, charges nothing, and the session goes on', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const key = quotaKeyOf(u.token);
    await redis.command('SET', key, String(QUOTA - 3));
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    const t = await turn(s, 'a prompt of many more words than the three tokens that are left of this day');
    expect(t.error).toMatchObject({ type: 'error', reason: 'rate_limited' });
    expect(t.done).toBeUndefined();
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    expect(await redis.command('GET', key)).toBe(String(QUOTA - 3));
  });

  it('closes with 4429 when the daily token quota is spent, and refuses to go on', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    await redis.command('SET', quotaKeyOf(u.token), String(QUOTA));
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    s.ws.send(JSON.stringify({ type: 'user_message', content: 'anything' }));
    expect(await s.closed).toEqual({ code: 4429, reason: 'rate_limited' });
    expect(s.frames).toEqual([]);

    const again = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    expect(await again.closed).toEqual({ code: 4429, reason: 'rate_limited' });
    expect(again.frames).toEqual([]);
  });

  it('validates frames, caps their size and runs one turn at a time', async () => {
    const u = await newUser();
    const id = await createAgent(u.token);
    const s = await session(react(id), { headers: { authorization: `Bearer ${u.token}` } });
    s.ws.send('not json');
    expect(await s.next()).toEqual({ type: 'error', reason: 'validation_failed', detail: 'a frame must be a JSON object' });
    s.ws.send(JSON.stringify({ type: 'user_message', content: '' }));
    expect((await s.next()).reason).toBe('validation_failed');
    s.ws.send(JSON.stringify({ type: 'user_message', content: 'x', extra: 1 }));
    expect((await s.next()).reason).toBe('validation_failed');
    s.ws.send(Buffer.from([1, 2, 3]));
    expect((await s.next()).detail).toBe('binary frames are not accepted');

    llm.setChunkDelayMs(30);
    s.ws.send(JSON.stringify({ type: 'user_message', content: 'slow answer' }));
    s.ws.send(JSON.stringify({ type: 'user_message', content: 'too soon' }));
    const frames: Frame[] = [];
    for (;;) {
      const f = await s.next();
      frames.push(f);
      if (f.type === 'done') break;
    }
    expect(frames.filter((f) => f.type === 'error')).toEqual([{ type: 'error', reason: 'conflict', detail: 'a turn is already in progress; wait for done' }]);
    expect(
      frames
        .filter((f) => f.type === 'delta')
        .map((f) => f.content)
        .join(''),
    ).toBe(llmReplyFor('slow answer'));

    s.ws.send('x'.repeat(70 * 1024));
    expect((await s.closed).code).toBe(1009);
  });

  it('answers an error frame when the provider fails, and the session goes on', async () => {
    // A BFF of its own with a 1 s LLM_TIMEOUT_MS (waited for twice below): the file's BFF keeps the default, so that its
    // turns do not depend on every answer of the provider arriving within 1 s on a loaded machine.
    const limited = await startTestBff({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, AGENT_TOKEN_QUOTA: String(QUOTA), LLM_TIMEOUT_MS: '1000' }, { sandbox });
    try {
      const u = await newUser();
      const id = await createAgent(u.token);
      const s = await session(`${limited.url.replace(/^http/, 'ws')}/api/agents/${id}/react`, { headers: { authorization: `Bearer ${u.token}` } });

      llm.setFault('error500');
      expect((await turn(s, 'a')).error).toEqual({ type: 'error', reason: 'upstream_unavailable', detail: 'the LLM provider failed (500)' });
      llm.setFault('reset');
      expect((await turn(s, 'b')).error!.reason).toBe('upstream_unavailable');
      llm.setFault('malformed');
      expect((await turn(s, 'c')).error!.reason).toBe('upstream_error');
      llm.setFault('hang');
      // The provider never answers: the error is the BFF's own deadline, and it gives up its request.
      expect((await turn(s, 'd')).error).toEqual({ type: 'error', reason: 'upstream_timeout', detail: 'the LLM provider did not answer within 1000 ms' });
      await waitUntil(() => llm.openRequests() === 0, { what: 'the BFF to close its request to the hung provider' });
      llm.setFault('none');

      llm.setStreamFault({ mode: 'error', afterEvents: 3 });
      const mid = await turn(s, 'one two three four');
      expect(mid.text).toBe('Sandbox reply: '); // the two words written before the failure
      expect(mid.error!.reason).toBe('upstream_error');
      llm.setStreamFault({ mode: 'hang', afterEvents: 2 });
      expect((await turn(s, 'stall')).error!.reason).toBe('upstream_timeout');
      llm.setStreamFault(null);

      expect((await turn(s, 'recovered')).text).toBe(llmReplyFor('recovered'));
      s.ws.close();
    } finally {
      await limited.close();
    }
  });

  it('never forwards what a provider says about its key', async () => {
    const wrongKey = `sk-wrong-${randomUUID()}`;
    const other = await startTestBff({ VALKEY_URL: redis.url, LLM_API_KEY: wrongKey }, { sandbox });
    try {
      const u = await newUser();
      const res = await httpRequest(`${other.url}/api/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'key test' }),
      });
      const id = (JSON.parse(res.body) as { id: string }).id;
      const s = await session(`${other.url.replace(/^http/, 'ws')}/api/agents/${id}/react`, { headers: { authorization: `Bearer ${u.token}` } });
      const t = await turn(s, 'hello');
      expect(t.error).toEqual({ type: 'error', reason: 'upstream_error', detail: "the LLM provider refused the BFF's credentials (401)" });
      expect(s.raw.join('')).not.toContain(wrongKey.slice(-4));
      s.ws.close();
    } finally {
      await other.close();
    }
  });

  it('drains sessions with 1001 on shutdown', async () => {
    const other = await startTestBff({ VALKEY_URL: redis.url }, { sandbox });
    const u = await newUser();
    const res = await httpRequest(`${other.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'drain test' }),
    });
    const id = (JSON.parse(res.body) as { id: string }).id;
    const url = `${other.url.replace(/^http/, 'ws')}/api/agents/${id}/react`;
    const idle = await session(url, { headers: { authorization: `Bearer ${u.token}` } });
    const busy = await session(url, { headers: { authorization: `Bearer ${u.token}` } });
    expect(other.app.get(AgentGateway).openSessions).toBe(2);
    llm.setChunkDelayMs(200);
    busy.ws.send(JSON.stringify({ type: 'user_message', content: 'a long answer in progress' }));
    await busy.next(); // the turn is streaming
    await other.close();
    expect(await idle.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect((await busy.closed).code).toBe(1001);
    // Shutdown cut the running turn instead of waiting for it to finish.
    expect(busy.frames.filter((f) => f.type === 'done')).toEqual([]);
  });

  it('cuts a session whose client stopped answering pings (AGENT_WS_HEARTBEAT_MS), and keeps one that answers', async () => {
    const other = await startTestBff({ VALKEY_URL: redis.url, AGENT_WS_HEARTBEAT_MS: '1000' }, { sandbox });
    try {
      const u = await newUser();
      const res = await httpRequest(`${other.url}/api/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'heartbeat test' }),
      });
      const url = `${other.url.replace(/^http/, 'ws')}/api/agents/${(JSON.parse(res.body) as { id: string }).id}/react`;
      const answering = await session(url, { headers: { authorization: `Bearer ${u.token}` } });
      // A client that went away without closing (a laptop lid, a dropped network): its socket stays open, nothing answers.
      const silent = new WebSocket(url, { headers: { authorization: `Bearer ${u.token}` }, autoPong: false });
      const silentClosed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
      let silentPings = 0;
      let answeringPings = 0;
      silent.on('ping', () => silentPings++);
      answering.ws.on('ping', () => answeringPings++);
      await new Promise((resolve, reject) => silent.once('open', resolve).once('error', reject));
      expect(other.app.get(AgentGateway).openSessions).toBe(2);

      expect(await silentClosed).toBe(1006); // terminated: no closing handshake with a peer that does not answer
      // Cut at the first period after its unanswered ping (within two periods): one ping, not more.
      expect(silentPings).toBe(1);
      await waitUntil(() => other.app.get(AgentGateway).openSessions === 1, { what: 'the gateway to drop the silent session' });
      // The answering session is still open, pinged as often, and still converses.
      await waitUntil(() => answeringPings >= 2, { timeoutMs: 5000, what: 'a second ping of the answering session' });
      expect(answering.ws.readyState).toBe(WebSocket.OPEN);
      const t = await turn(answering, 'still here');
      expect(t.text).toBe(llmReplyFor('still here'));
      answering.ws.close(1000);
    } finally {
      await other.close();
    }
  });

  describe('behind a real nginx with auth_request to /api/auth', () => {
    let nginx: NginxServer;
    let viaNginx: string;

    beforeAll(async () => {
      const bffPort = new URL(bff.url).port;
      nginx = await startNginx({
        httpBlock: `
  upstream bff { server 127.0.0.1:${bffPort}; keepalive 8; }
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }`,
        serverBlock: `
    # Every /api/agents route and the WebSocket upgrade: authorized by the BFF's /api/auth first.
    location /api/agents {
      auth_request /_auth;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Request-Id $request_id;
      proxy_read_timeout 120s;
      proxy_pass http://bff;
    }
    # A ?ticket= upgrade carries no token for /api/auth to check: the BFF redeems the ticket
    # itself, before the 101 (it is authenticated there exactly as any other upgrade).
    location ~ ^/api/agents/[^/]+/react$ {
      error_page 418 = @ticket_upgrade;
      if ($arg_ticket) { return 418; }
      auth_request /_auth;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://bff;
    }
    location @ticket_upgrade {
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://bff;
    }
    location = /_auth {
      internal;
      proxy_pass http://bff/api/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }`,
      });
      viaNginx = nginx.url;
    });

    afterAll(async () => {
      await nginx?.stop();
    });

    it('guards the REST routes', async () => {
      const u = await newUser();
      const none = await httpRequest(`${viaNginx}/api/agents`);
      expect(none.status).toBe(401);
      const viewer = await httpRequest(`${viaNginx}/api/agents`, { headers: { authorization: `Bearer ${await bff.token('viewer')}` } });
      expect(viewer.status).toBe(403);
      const created = await httpRequest(`${viaNginx}/api/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'through nginx' }),
      });
      expect(created.status).toBe(201);
      const id = (JSON.parse(created.body) as { id: string }).id;
      const got = await httpRequest(`${viaNginx}/api/agents/${id}`, { headers: { authorization: `Bearer ${u.token}` } });
      expect(got.status).toBe(200);
      expect(nginx.errorLog()).not.toMatch(/auth request unexpected status/);
    });

    it('guards the WebSocket upgrade and tunnels the conversation', async () => {
      const u = await newUser();
      const id = await createAgent(u.token);
      const base = viaNginx.replace(/^http/, 'ws');
      const url = `${base}/api/agents/${id}/react`;

      const none = await refused(url);
      expect(none.status).toBe(401); // nginx, from the auth subrequest
      const viewer = await refused(url, { headers: { authorization: `Bearer ${await bff.token('viewer')}` } });
      expect(viewer.status).toBe(403);
      // nginx lets a REGULAR user through; the BFF refuses another user's agent before the 101.
      const stranger = await newUser();
      const notYours = await refused(url, { headers: { authorization: `Bearer ${stranger.token}` } });
      expect(notYours.status).toBe(404);
      expect(notYours.problem.reason).toBe('not_found');

      const s = await session(`${url}?access-token=${u.token}`);
      expect((await turn(s, 'through the proxy')).text).toBe(llmReplyFor('through the proxy'));
      s.ws.close();
      const h = await session(url, { headers: { authorization: `Bearer ${u.token}` } });
      expect((await turn(h, 'header auth')).text).toBe(llmReplyFor('header auth'));
      h.ws.close();

      const ticket = await httpRequest(`${viaNginx}/api/agents/${id}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${u.token}` } });
      expect(ticket.status).toBe(201);
      const t = await session(`${base}${(JSON.parse(ticket.body) as { url: string }).url}`);
      expect((await turn(t, 'ticket via nginx')).text).toBe(llmReplyFor('ticket via nginx'));
      t.ws.close();
      const forged = await refused(`${url}?ticket=${'B'.repeat(43)}`);
      expect(forged.status).toBe(401);

      // nginx writes a line after its response (an upgrade's when the tunnel closes): wait for both, then match them.
      const upgraded = new RegExp(`GET /api/agents/${id}/react\\?access-token=\\S+ HTTP/1.1" 101 `);
      const refusedLine = new RegExp(`GET /api/agents/${id}/react HTTP/1.1" 401 `);
      await waitUntil(() => upgraded.test(nginx.accessLog()) && refusedLine.test(nginx.accessLog()), {
        what: 'the access-log lines of the 101 and the 401',
      });
      expect(nginx.errorLog()).not.toMatch(/auth request unexpected status/);
    });
  });
});
