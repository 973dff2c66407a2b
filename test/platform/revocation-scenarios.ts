import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { isRefused, openAgentSocket, type AgentSocket } from '../support/agent-socket';
import { rs256Foreign } from '../support/jwt';
import { waitUntil } from '../support/net';
import { cookieHeader, formLogin, SESSION_PATH } from './browser-login';
import { bffGet, passwordLogin, type Json, type Scenario, type ScenarioWorld } from './keycloak-scenarios';

/**
 * Issue 20: logout and revocation against the identity provider (the sandbox issuer and a real Keycloak, in
 * keycloak.spec.ts). The realm posts its back-channel logouts to replica A (its back-channel logout URL);
 * every door is checked on replica B, which hears of them through Valkey only.
 */

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

type Bff = { url: string };

/** One Keycloak session of a user, through the frontend client (password grant), with what it opened at the BFF. */
async function session(target: ScenarioWorld['target'], user: string) {
  const login = await passwordLogin(target, user);
  // Keycloak's error body (error, error_description) shows in the failure when the login is refused.
  expect({ status: login.status, refusal: login.status === 200 ? undefined : login.body }).toEqual({ status: 200, refusal: undefined });
  const token = login.body.access_token as string;
  return { token, refresh: login.body.refresh_token as string, sid: decodeJwt(token).sid as string, sub: decodeJwt(token).sub as string };
}

/** Every door a token opens, as its status on one replica: fast path, guard + exchange, ext-authz, WebSocket upgrade. */
async function doors(bff: Bff, token: string, agentId: string): Promise<Record<string, number>> {
  const bearer = { authorization: `Bearer ${token}` };
  const ws = await openAgentSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${agentId}/react`, { headers: bearer });
  if (!isRefused(ws)) ws.ws.close();
  return {
    me: (await bffGet(bff, '/auth/me', token)).status,
    mlAgent: (await bffGet(bff, '/chatbot/trino/catalogs', token)).status,
    validate: (await bffGet(bff, '/api/validate/v1/info', token)).status,
    auth: (await bffGet(bff, '/api/auth', token, { 'x-original-uri': '/v1/info' })).status,
    upgrade: isRefused(ws) ? ws.status : 101,
  };
}
const OPEN = { me: 200, mlAgent: 200, validate: 200, auth: 200, upgrade: 101 };
const CLOSED = { me: 401, mlAgent: 401, validate: 401, auth: 401, upgrade: 401 };

async function createAgent(bff: Bff, token: string): Promise<string> {
  const res = await fetch(`${bff.url}/api/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'revocation' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function openSocket(bff: Bff, token: string, agentId: string): Promise<AgentSocket> {
  const ws = await openAgentSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${agentId}/react`, { headers: { authorization: `Bearer ${token}` } });
  if (isRefused(ws)) throw new Error(`upgrade refused: ${ws.status} ${ws.body}`);
  return ws;
}

/** A Trino query submitted through the BFF, and its next page's URI on replica B. */
async function submitQuery(bff: Bff, token: string): Promise<{ id: string; next: string }> {
  const res = await fetch(`${bff.url}/v1/statement`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'SELECT * FROM tpch.tiny.lineitem' });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { id: string; nextUri: string };
  return { id: body.id, next: body.nextUri };
}
const follow = async (bff: Bff, uri: string, token: string) => (await bffGet(bff, new URL(uri).pathname + new URL(uri).search, token)).status;

/** The realm's end-session endpoint, as the frontend logs its session out (with its refresh token). */
async function endSession(world: ScenarioWorld, refresh: string): Promise<void> {
  const res = await fetch(`${world.target.issuer}/protocol/openid-connect/logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'platform-frontend', refresh_token: refresh }),
  });
  expect(res.status).toBe(204);
}

/** Waits until replica B refuses the token (it hears of the logout through Valkey), at most 2 s. */
async function refusedEverywhere(world: ScenarioWorld, token: string): Promise<void> {
  for (const bff of [world.bff, world.bffB]) {
    await waitUntil(async () => (await bffGet(bff, '/auth/me', token)).status === 401, { what: 'the logged-out session to be refused', timeoutMs: 2000 });
    const me = await bffGet(bff, '/auth/me', token);
    expect(me.body.reason).toBe('token_revoked');
  }
}

/** A loopback server that records the logout tokens posted to it and forwards them to replica A. */
async function captureLogouts(forwardTo: string): Promise<{ url: string; tokens: string[]; close(): Promise<void> }> {
  const tokens: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      void fetch(forwardTo, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }).then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
        res.end(await r.text());
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`,
    tokens,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export const REVOCATION_SCENARIOS: Scenario[] = [
  {
    name: 'logout at the end-session endpoint: every door of that session closes on both replicas (bearer, fast path, ext-authz, exchange, WebSocket, Trino); the user’s other session and other users go on',
    async run(world) {
      const { bff, bffB, downstream } = world;
      const one = await session(world.target, 'alice');
      const two = await session(world.target, 'alice');
      const other = await session(world.target, 'admin');
      expect(two.sid).not.toBe(one.sid);
      const agentId = await createAgent(bff, one.token);
      const otherAgent = await createAgent(bff, other.token);
      for (const b of [bff, bffB]) {
        expect(await doors(b, one.token, agentId)).toEqual(OPEN);
        expect(await doors(b, two.token, agentId)).toEqual(OPEN);
      }
      const socketOne = await openSocket(bffB, one.token, agentId);
      const socketTwo = await openSocket(bffB, two.token, agentId);
      const socketOther = await openSocket(bffB, other.token, otherAgent);
      const query = await submitQuery(bffB, one.token);
      const kept = await submitQuery(bffB, two.token);
      expect(await follow(bffB, query.next, one.token)).toBe(200);

      await endSession(world, one.refresh);
      await refusedEverywhere(world, one.token);
      for (const b of [bff, bffB]) expect(await doors(b, one.token, agentId)).toEqual(CLOSED);
      expect(await socketOne.closed).toEqual({ code: 4401, reason: 'token_revoked' });
      // The query: cancelled at the coordinator as alice, its next page refused even to alice's other session.
      const cancels = downstream.trinoRequests().filter((r) => r.method === 'DELETE' && r.path === `/v1/query/${query.id}`);
      expect(cancels.map((r) => r.headers['x-trino-user'])).toEqual(['alice']);
      expect(await follow(bffB, query.next, two.token)).toBe(404);

      for (const b of [bff, bffB]) {
        expect(await doors(b, two.token, agentId)).toEqual(OPEN);
        expect((await bffGet(b, '/auth/me', other.token)).status).toBe(200);
      }
      expect(await follow(bffB, kept.next, two.token)).toBe(200);
      expect((await socketTwo.turn('still here?')).done).toBeDefined();
      expect((await socketOther.turn('and here?')).done).toBeDefined();
      for (const s of [socketTwo, socketOther]) s.ws.close();
    },
  },
  {
    name: 'an admin signs the user out (admin API): every session of the user closes on both replicas, their browser session (MLflow UI) is destroyed; other users go on',
    async run(world) {
      const { target, bff, bffB, valkey } = world;
      const one = await session(target, 'alice');
      const two = await session(target, 'alice');
      const other = await session(target, 'admin');
      const jar = await formLogin(bff.url, 'alice', target.password('alice'));
      const otherJar = await formLogin(bff.url, 'admin', target.password('admin'));
      const ui = async (b: Bff, cookies: typeof jar) => (await fetch(`${b.url}${SESSION_PATH}`, { headers: { cookie: cookieHeader(cookies) } })).status;
      expect(await ui(bffB, jar)).toBe(200);
      const storedBefore = await valkey.storedSessions();

      await target.signOutUser(one.sub);
      for (const t of [one.token, two.token]) await refusedEverywhere(world, t);
      // Alice's browser sessions are gone from Valkey (not only refused); the other user's is kept (below).
      expect(await valkey.storedSessions()).toBeLessThan(storedBefore);
      for (const b of [bff, bffB]) {
        expect(await ui(b, jar)).toBe(401);
        expect(await ui(b, otherJar)).toBe(200);
        expect((await bffGet(b, '/auth/me', other.token)).status).toBe(200);
      }
      // A new login of the same user works again.
      const again = await session(target, 'alice');
      expect((await bffGet(bffB, '/auth/me', again.token)).status).toBe(200);
    },
  },
  {
    name: 'forged, replayed or foreign logout tokens are refused (400) and change nothing; the realm’s logout token has the back-channel logout shape',
    async run(world) {
      const { target, bff, bffB } = world;
      const victim = await session(target, 'alice');
      const post = (b: Bff, token: string) =>
        fetch(`${b.url}/auth/backchannel-logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token }),
        });
      const now = Math.floor(Date.now() / 1000);
      const forged = rs256Foreign(
        { typ: 'logout+jwt', kid: decodeProtectedHeader(victim.token).kid },
        {
          iss: target.issuer,
          aud: 'platform-frontend',
          sub: victim.sub,
          sid: victim.sid,
          iat: now,
          exp: now + 120,
          jti: `forged-${now}`,
          events: { [LOGOUT_EVENT]: {} },
        },
      );
      const idToken = (await passwordLogin(target, 'alice')).body.id_token as string;
      for (const [why, token] of [
        ['forged (a key the realm never published)', forged],
        ['foreign (the realm’s access token)', victim.token],
        ['foreign (the realm’s ID token)', idToken],
      ] as const) {
        const res = await post(bff, token);
        expect({ why, status: res.status }).toEqual({ why, status: 400 });
      }
      for (const b of [bff, bffB]) expect((await bffGet(b, '/auth/me', victim.token)).status).toBe(200);

      // A genuine logout token, captured on its way to replica A (the realm's URL is pointed at a recorder for this).
      const capture = await captureLogouts(`${bff.url}/auth/backchannel-logout`);
      await target.setBackchannelLogoutUrl('platform-frontend', capture.url);
      try {
        const ended = await session(target, 'alice');
        await endSession(world, ended.refresh);
        await refusedEverywhere(world, ended.token);
        expect(capture.tokens).toHaveLength(1);
        const [genuine] = capture.tokens;
        expect(decodeProtectedHeader(genuine)).toMatchObject({ typ: 'logout+jwt', alg: 'RS256' });
        const claims = decodeJwt(genuine) as Json;
        expect(claims).toMatchObject({ iss: target.issuer, aud: 'platform-frontend', sub: ended.sub, sid: ended.sid, events: { [LOGOUT_EVENT]: {} } });
        expect(Object.keys(claims).sort()).toEqual(['aud', 'events', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub', 'typ']);
        expect(claims.nonce).toBeUndefined();
        // Replayed, to either replica: refused, and the victim's session is not touched by it.
        for (const b of [bff, bffB]) {
          const replay = await post(b, genuine);
          expect(replay.status).toBe(400);
          expect(((await replay.json()) as Json).detail).toBe('this logout token was already used');
        }
      } finally {
        await target.setBackchannelLogoutUrl('platform-frontend', `http://127.0.0.1:${target.backchannelPort}/auth/backchannel-logout`);
        await capture.close();
      }
      for (const b of [bff, bffB]) expect((await bffGet(b, '/auth/me', victim.token)).status).toBe(200);
    },
  },
];
