import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { startSandbox, SANDBOX_FRONTEND_CLIENT_ID, SANDBOX_LOGIN_CLIENT_ID, type Sandbox } from '../../sandbox/index';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/auth/logout-token';
import { StateStore } from '../../src/state/state-store';
import { isRefused, openAgentSocket } from '../support/agent-socket';
import { startTestBff, type TestBff } from '../support/app';
import { cookieHeader, formLogin } from '../platform/browser-login';
import { rs256Foreign } from '../support/jwt';
import { freePort, httpRequest, waitUntil } from '../support/net';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(120_000);

/**
 * OIDC back-channel logout (issue 20) in-process: the sandbox issuer posts its logout tokens to replica A,
 * as the realm's back-channel URL says; replica B hears of them through Valkey. The same doors against
 * real Keycloak are in test/platform (revocation-scenarios.ts).
 */
describe('back-channel logout across two replicas', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let a: TestBff;
  let b: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    redis = await startRedis();
    const port = await freePort();
    for (const id of [SANDBOX_FRONTEND_CLIENT_ID, SANDBOX_LOGIN_CLIENT_ID]) {
      sandbox.issuer.clients.get(id)!.backchannelLogoutUrl = `http://127.0.0.1:${port}/auth/backchannel-logout`;
    }
    const env = { VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, BFF_SESSION_SECRET: randomBytes(32).toString('base64url') };
    a = await startTestBff(env, { sandbox, port });
    b = await startTestBff(env, { sandbox });
    for (const bff of [a, b]) await waitUntil(() => bff.app.get(StateStore).shared, { what: 'the BFF to reach Valkey' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
    await sandbox?.close();
  });

  /** A password login of the frontend client: a session of the issuer (sid) with its access and refresh tokens. */
  async function login(user = 'alice') {
    const res = await fetch(sandbox.issuer.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: SANDBOX_FRONTEND_CLIENT_ID,
        username: user,
        password: sandbox.issuer.users.find((u) => u.username === user)!.password,
      }),
    });
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    return { token: body.access_token, refresh: body.refresh_token };
  }
  const me = async (bff: TestBff, token: string) => {
    const res = await httpRequest(`${bff.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, reason: res.status === 200 ? undefined : (JSON.parse(res.body) as { reason: string }).reason };
  };
  const postLogout = (body: string, type = 'application/x-www-form-urlencoded') =>
    httpRequest(`${a.url}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': type }, body });
  /** A logout token as the realm signs them, with claims changed as a test needs. */
  const logoutToken = (sub: string, sid: string | undefined, claims: Record<string, unknown> = {}, header: Record<string, unknown> = { typ: 'logout+jwt' }) =>
    sandbox.issuer.issueToken({
      claims: {
        ...Object.fromEntries(
          ['preferred_username', 'email', 'name', 'given_name', 'family_name', 'realm_access', 'groups', 'scope', 'azp', 'acr', 'email_verified', 'typ'].map((k) => [
            k,
            undefined,
          ]),
        ),
        sub,
        sid,
        aud: SANDBOX_FRONTEND_CLIENT_ID,
        jti: randomUUID(),
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
        ...claims,
      },
      header,
    });
  const subOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { sub: string; sid: string };

  it('a logout at the issuer closes the session on both replicas (bearer, fast path, WebSocket); the user’s other session and other users go on', async () => {
    const one = await login('alice');
    const two = await login('alice');
    const other = await login('admin');
    const created = await httpRequest(`${a.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${one.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'revocation' }),
    });
    expect(created.status).toBe(201);
    const agentId = (JSON.parse(created.body) as { id: string }).id;
    const open = (token: string) =>
      openAgentSocket(`${b.url.replace(/^http/, 'ws')}/api/agents/${agentId}/react`, { headers: { authorization: `Bearer ${token}` } });
    const wsOne = await open(one.token);
    const wsTwo = await open(two.token);
    if (isRefused(wsOne) || isRefused(wsTwo)) throw new Error('upgrade refused');
    for (const bff of [a, b]) for (const t of [one, two, other]) expect((await me(bff, t.token)).status).toBe(200);

    const ended = await fetch(`${sandbox.issuer.issuer}/protocol/openid-connect/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: SANDBOX_FRONTEND_CLIENT_ID, refresh_token: one.refresh }),
    });
    expect(ended.status).toBe(204);
    expect(sandbox.issuer.backchannelLogouts.at(-1)).toEqual({ url: `${a.url}/auth/backchannel-logout`, status: 200 });

    expect(await me(a, one.token)).toEqual({ status: 401, reason: 'token_revoked' });
    await waitUntil(async () => (await me(b, one.token)).status === 401, { what: 'replica B to refuse the logged-out session' });
    expect(await me(b, one.token)).toEqual({ status: 401, reason: 'token_revoked' });
    const validate = await httpRequest(`${b.url}/api/validate/v1/info`, { headers: { authorization: `Bearer ${one.token}` } });
    expect(validate.status).toBe(401);
    const auth = await httpRequest(`${b.url}/api/auth`, { headers: { authorization: `Bearer ${one.token}`, 'x-original-uri': '/v1/info' } });
    expect(auth.status).toBe(401);
    expect(await wsOne.closed).toEqual({ code: 4401, reason: 'token_revoked' });
    const again = await open(one.token);
    expect(isRefused(again) && again.status).toBe(401);

    for (const bff of [a, b]) for (const t of [two, other]) expect((await me(bff, t.token)).status).toBe(200);
    const turn = await wsTwo.turn('still here?');
    expect(turn.done).toBeDefined();
    wsTwo.ws.close();
  });

  it('forged, foreign, replayed or malformed logout tokens are refused with 400 and change nothing', async () => {
    const victim = await login('alice');
    const { sub, sid } = subOf(victim.token);
    const form = (t: string) => new URLSearchParams({ logout_token: t }).toString();
    const refusals: Array<[string, string]> = [
      [
        'signed by a foreign key',
        rs256Foreign(
          { typ: 'logout+jwt', kid: sandbox.issuer.currentKid },
          {
            iss: sandbox.issuer.issuer,
            aud: SANDBOX_FRONTEND_CLIENT_ID,
            sub,
            sid,
            iat: Math.floor(Date.now() / 1000),
            jti: randomUUID(),
            events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
          },
        ),
      ],
      ['for a client whose logout this BFF does not serve', await logoutToken(sub, sid, { aud: 'ci-pipeline' })],
      ['an access token', victim.token],
      ['without the logout typ', await logoutToken(sub, sid, {}, { typ: 'JWT' })],
      ['without the event', await logoutToken(sub, sid, { events: { other: {} } })],
      ['with a nonce', await logoutToken(sub, sid, { nonce: 'n' })],
      ['without sid and sub', await logoutToken('', undefined, { sub: undefined })],
      ['too old', await logoutToken(sub, sid, { iat: Math.floor(Date.now() / 1000) - 600 })],
    ];
    for (const [why, t] of refusals) {
      const res = await postLogout(form(t));
      expect({ why, status: res.status }).toEqual({ why, status: 400 });
    }
    expect((await postLogout('logout_token=a&logout_token=b')).status).toBe(400);
    expect((await postLogout(JSON.stringify({ logout_token: await logoutToken(sub, sid) }), 'application/json')).status).toBe(400);
    for (const bff of [a, b]) expect((await me(bff, victim.token)).status).toBe(200);

    // A genuine one for another session works once; its replay (to either replica) is refused.
    const someone = await login('alice');
    const genuine = await logoutToken(sub, subOf(someone.token).sid);
    expect((await postLogout(form(genuine))).status).toBe(200);
    const replay = await httpRequest(`${b.url}/auth/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(genuine),
    });
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body).detail).toBe('this logout token was already used');
    expect(await me(a, someone.token)).toEqual({ status: 401, reason: 'token_revoked' });
    for (const bff of [a, b]) expect((await me(bff, victim.token)).status).toBe(200);
  });

  it('a logout token naming only the user ends every earlier token of the user, not later ones', async () => {
    const first = await login('viewer');
    const { sub } = subOf(first.token);
    expect((await postLogout(new URLSearchParams({ logout_token: await logoutToken(sub, undefined) }).toString())).status).toBe(200);
    await waitUntil(async () => (await me(b, first.token)).status === 401, { what: 'replica B to refuse the user' });
    // Tokens carry whole seconds: one issued in a later second is after the logout.
    const loggedOutBy = Math.floor(Date.now() / 1000);
    await waitUntil(() => Math.floor(Date.now() / 1000) > loggedOutBy, { what: 'the next second' });
    const later = await login('viewer');
    for (const bff of [a, b]) expect((await me(bff, later.token)).status).toBe(200);
  });

  it('the session’s Trino queries are cancelled at the coordinator as their user, and their nextUri is refused (404) even to the user’s other session', async () => {
    const coordinator = sandbox.servers.find((s) => s.name === 'trino-coordinator')!.server as TrinoCoordinator;
    const one = await login('alice');
    const two = await login('alice');
    const submit = async (token: string) => {
      const res = await httpRequest(`${b.url}/v1/statement`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: 'SELECT * FROM tpch.tiny.lineitem',
      });
      expect(res.status).toBe(200);
      return JSON.parse(res.body) as { id: string; nextUri: string };
    };
    const mine = await submit(one.token);
    const kept = await submit(two.token);
    const follow = (uri: string, token: string) => httpRequest(uri.replace(/^https?:\/\/[^/]+/, b.url), { headers: { authorization: `Bearer ${token}` } });
    expect((await follow(mine.nextUri, one.token)).status).toBe(200);

    const ended = await fetch(`${sandbox.issuer.issuer}/protocol/openid-connect/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: SANDBOX_FRONTEND_CLIENT_ID, refresh_token: one.refresh }),
    });
    expect(ended.status).toBe(204);
    const cancels = coordinator.requests.filter((r) => r.method === 'DELETE' && r.path === `/v1/query/${mine.id}`);
    expect(cancels.map((r) => r.headers['x-trino-user'])).toEqual(['alice']);
    expect(coordinator.requests.some((r) => r.method === 'DELETE' && r.path.includes(kept.id))).toBe(false);
    expect((await follow(mine.nextUri, one.token)).status).toBe(401);
    expect((await follow(mine.nextUri, two.token)).status).toBe(404);
    expect((await follow(kept.nextUri, two.token)).status).toBe(200);
  });

  it('an admin’s sign-out of the user destroys their browser session (the MLflow UI’s) in Valkey, on every replica', async () => {
    const user = sandbox.issuer.users.find((u) => u.username === 'admin')!;
    const jar = await formLogin(a.url, user.username, user.password);
    const search = (bff: TestBff) => httpRequest(`${bff.url}/mlflow/api/2.0/mlflow/experiments/search?max_results=1`, { headers: { cookie: cookieHeader(jar) } });
    expect((await search(b)).status).toBe(200);
    // Stored browser sessions: keys session:<64 hex> (not the sid index, pending logins or counters).
    const sessions = async () =>
      redis.command(
        'EVAL',
        "local n = 0 for _, k in ipairs(redis.call('KEYS', 'session:*')) do if #k == 72 and k:match('^session:%x+$') then n = n + 1 end end return n",
        '0',
      );
    expect(await sessions()).toBe(':1');
    await sandbox.issuer.logoutUser(user.sub);
    expect(sandbox.issuer.backchannelLogouts.at(-1)).toEqual({ url: `${a.url}/auth/backchannel-logout`, status: 200 });
    expect(await sessions()).toBe(':0');
    const after = await search(b);
    expect(after.status).toBe(401);
  });
});
