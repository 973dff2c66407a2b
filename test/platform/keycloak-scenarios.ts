import { decodeJwt, decodeProtectedHeader } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromiumLogin, cookieHeader, formLogin, SESSION_PATH } from './browser-login';
import type { IdpTarget } from './idp-targets';

/**
 * The Keycloak scenarios: one list, run against the sandbox issuer and against a real Keycloak
 * (keycloak.spec.ts). Each asserts what a user of the BFF observes; both targets must give the same,
 * so a difference between the emulator and Keycloak fails one of the two runs.
 */
export interface ScenarioWorld {
  target: IdpTarget;
  /** BFF replica A (and B: same Valkey, same session secret). */
  bff: { url: string };
  bffB: { url: string };
  /** The downstream emulators, verifying tokens against the target's JWKS. */
  downstream: {
    audiencesSeen(): { gateway: string[]; mlAgent: string[]; trino: string[] };
    /** The requests the Trino coordinator received (method, path, headers). */
    trinoRequests(): Array<{ method: string; path: string; headers: Record<string, string | string[] | undefined> }>;
  };
  /** The replicas' Valkey. */
  valkey: { /** Browser sessions stored (keys session:<sha256>). */ storedSessions(): Promise<number> };
}

export interface Scenario {
  name: string;
  run(world: ScenarioWorld): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of the identity provider and the BFF
export type Json = Record<string, any>;

export interface TokenAnswer {
  status: number;
  body: Json;
}

/** A form POST to the target's token endpoint. */
export async function tokenRequest(target: IdpTarget, form: Record<string, string>, basic?: [string, string]): Promise<TokenAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64')}`;
  const res = await fetch(target.tokenEndpoint, { method: 'POST', headers, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Json };
}

/** The frontend's password login (public client platform-frontend). */
export async function passwordLogin(target: IdpTarget, user: string, password = target.password(user)) {
  return tokenRequest(target, { grant_type: 'password', client_id: 'platform-frontend', username: user, password, scope: 'openid' });
}

export async function bffGet(bff: { url: string }, path: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${bff.url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, redirect: 'manual' });
  const text = await res.text();
  let body: Json | string = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as Json, headers: res.headers };
}

const audiencesOf = (token: string) => {
  const aud = decodeJwt(token).aud;
  return typeof aud === 'string' ? [aud] : (aud ?? []);
};

export const KEYCLOAK_SCENARIOS: Scenario[] = [
  {
    name: 'password login: the frontend gets access, refresh and ID tokens; the BFF accepts the access token with the realm roles and groups',
    async run({ target, bff }) {
      const login = await passwordLogin(target, 'alice');
      expect(login.status).toBe(200);
      expect(Object.keys(login.body)).toEqual(expect.arrayContaining(['access_token', 'refresh_token', 'id_token', 'expires_in', 'refresh_expires_in']));
      expect(login.body.token_type).toBe('Bearer');
      const me = await bffGet(bff, '/auth/me', login.body.access_token);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ username: 'alice', email: 'alice@example.com', name: 'Alice Liddell', groups: ['/data-team'], clientId: 'platform-frontend' });
      expect(me.body.issuer).toBe(target.issuer);
      // The realm imports users with explicit realm roles: no default roles, and no `account` audience.
      expect(me.body.roles).toEqual(['REGULAR']);
      expect(me.body.audiences).toEqual(['platform-bff']);
      const claims = decodeJwt(login.body.access_token);
      expect(claims.typ).toBe('Bearer');
      const scopes = (v: unknown) => String(v).split(' ').sort();
      expect(scopes(claims.scope)).toEqual(['email', 'openid', 'profile']);
      expect(claims.sid).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(login.body.session_state).toBe(claims.sid);
      expect(decodeJwt(login.body.id_token)).toMatchObject({ typ: 'ID', aud: 'platform-frontend', sid: claims.sid });
      // Without `openid`: no ID token.
      const plain = await tokenRequest(target, { grant_type: 'password', client_id: 'platform-frontend', username: 'alice', password: target.password('alice') });
      expect(plain.status).toBe(200);
      expect(plain.body.id_token).toBeUndefined();
      expect(scopes(plain.body.scope)).toEqual(['email', 'profile']);
    },
  },
  {
    name: 'password login with a wrong password: 400 invalid_grant "Invalid user credentials"',
    async run({ target }) {
      const login = await passwordLogin(target, 'alice', 'not-the-password');
      expect(login.status).toBe(400);
      expect(login.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid user credentials' });
    },
  },
  {
    name: 'a user without a role is authenticated, with no platform role',
    async run({ target, bff }) {
      const login = await passwordLogin(target, 'viewer');
      expect(login.status).toBe(200);
      const me = await bffGet(bff, '/auth/me', login.body.access_token);
      expect(me.status).toBe(200);
      expect(me.body.roles).not.toContain('REGULAR');
      expect(me.body.roles).not.toContain('ADMIN');
      expect(me.body.groups).toEqual([]);
    },
  },
  {
    name: 'client credentials: a service account (ci-pipeline) calls the BFF with its realm role',
    async run({ target, bff }) {
      const cc = await tokenRequest(target, { grant_type: 'client_credentials' }, ['ci-pipeline', target.clientSecret('ci-pipeline')]);
      expect(cc.status).toBe(200);
      expect(cc.body.refresh_token).toBeUndefined();
      const me = await bffGet(bff, '/auth/me', cc.body.access_token);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ username: 'service-account-ci-pipeline', clientId: 'ci-pipeline' });
      expect(me.body.roles).toContain('REGULAR');
      expect(me.body.audiences).toContain('platform-bff');
    },
  },
  {
    name: "client credentials: the BFF's own service-account token carries no downstream audience",
    async run({ target }) {
      const cc = await tokenRequest(target, { grant_type: 'client_credentials' }, [target.env.BFF_CLIENT_ID, target.env.BFF_CLIENT_SECRET]);
      expect(cc.status).toBe(200);
      const downstream = audiencesOf(cc.body.access_token).filter((a) => /-(trino|trino-gw|ml-agent)$/.test(a));
      expect(downstream).toEqual([]);
    },
  },
  {
    name: 'client credentials with a wrong secret: 401 unauthorized_client',
    async run({ target }) {
      const cc = await tokenRequest(target, { grant_type: 'client_credentials' }, ['ci-pipeline', 'wrong-secret']);
      expect(cc.status).toBe(401);
      expect(cc.body).toEqual({ error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' });
    },
  },
  {
    name: 'refresh and ID tokens are refused as bearer tokens (401 token_invalid)',
    async run({ target, bff }) {
      const login = await passwordLogin(target, 'alice');
      for (const t of [login.body.refresh_token, login.body.id_token]) {
        const me = await bffGet(bff, '/auth/me', t);
        expect(me.status).toBe(401);
        expect(me.body.reason).toBe('token_invalid');
      }
    },
  },
  {
    name: 'refresh tokens rotate strictly (reuse 0): each refresh answers a new one; using an old one ends the refreshes of the session',
    async run({ target }) {
      const refresh = (token: string) => tokenRequest(target, { grant_type: 'refresh_token', client_id: 'platform-frontend', refresh_token: token });
      const login = await passwordLogin(target, 'alice');
      expect(decodeProtectedHeader(login.body.refresh_token).alg).toBe('HS512');
      const first = await refresh(login.body.refresh_token);
      expect(first.status).toBe(200);
      expect(first.body.refresh_token).not.toBe(login.body.refresh_token);
      expect(decodeJwt(first.body.access_token).sid).toBe(decodeJwt(login.body.access_token).sid);
      const second = await refresh(first.body.refresh_token);
      expect(second.status).toBe(200);
      const reused = await refresh(first.body.refresh_token);
      expect(reused).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Maximum allowed refresh token reuse exceeded' } });
      // The newest refresh token dies with it: two refreshes of one session at once log the user out.
      expect((await refresh(second.body.refresh_token)).status).toBe(400);
    },
  },
  {
    name: 'JWKS rotation through the issuer, without a BFF restart: tokens of the new key are accepted, of the removed key refused',
    async run({ target, bff }) {
      const before = (await passwordLogin(target, 'alice')).body.access_token as string;
      expect((await bffGet(bff, '/auth/me', before)).status).toBe(200);
      const kid = await target.rotateSigningKey();
      const after = (await passwordLogin(target, 'alice')).body.access_token as string;
      expect(decodeProtectedHeader(after).kid).toBe(kid);
      expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
      expect((await bffGet(bff, '/auth/me', after)).status).toBe(200);
    },
  },
  {
    name: 'token exchange per downstream audience for a workspace other than demo: each downstream gets a token of its own audience',
    async run({ target, bff, downstream }) {
      expect(target.workspaceId).not.toBe('demo');
      const admin = (await passwordLogin(target, 'admin')).body.access_token as string;
      const gw = await bffGet(bff, '/trino/gateway/backend/all', admin);
      expect(gw.status).toBe(200);
      const agent = await bffGet(bff, '/chatbot/trino/catalogs', admin);
      expect(agent.status).toBe(200);
      const res = await fetch(`${bff.url}/v1/statement`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: 'SELECT 1' });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const seen = downstream.audiencesSeen();
      expect(seen.gateway).toEqual([`${target.workspaceId}-trino-gw`]);
      expect(seen.mlAgent).toEqual([`${target.workspaceId}-ml-agent`]);
      expect(seen.trino).toEqual([`${target.workspaceId}-trino`]);
    },
  },
  {
    name: 'the BFF client exchanges only for audiences the realm gives it: another client is 400 "Requested audience not available", an unknown one "Audience not found"',
    async run({ target }) {
      const alice = (await passwordLogin(target, 'alice')).body.access_token as string;
      const exchange = (extra: Record<string, string>) =>
        tokenRequest(
          target,
          {
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: alice,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            ...extra,
          },
          [target.env.BFF_CLIENT_ID, target.env.BFF_CLIENT_SECRET],
        );
      const ok = await exchange({ audience: `${target.workspaceId}-trino`, scope: `${target.workspaceId}-trino` });
      expect(ok.status).toBe(200);
      expect(decodeJwt(ok.body.access_token)).toMatchObject({ aud: `${target.workspaceId}-trino`, azp: 'platform-bff', preferred_username: 'alice' });
      expect(await exchange({ audience: `${target.workspaceId}-trino` })).toEqual({
        status: 400,
        body: { error: 'invalid_request', error_description: `Requested audience not available: ${target.workspaceId}-trino` },
      });
      expect(await exchange({ audience: 'ci-pipeline' })).toEqual({
        status: 400,
        body: { error: 'invalid_request', error_description: 'Requested audience not available: ci-pipeline' },
      });
      expect(await exchange({ audience: 'no-such-client' })).toEqual({ status: 400, body: { error: 'invalid_client', error_description: 'Audience not found' } });
      expect(await exchange({ audience: `${target.workspaceId}-trino`, scope: 'no-such-scope' })).toEqual({
        status: 400,
        body: { error: 'invalid_scope', error_description: 'Invalid scopes: no-such-scope' },
      });
    },
  },
  {
    name: 'a logout the BFF missed (its back-channel logout lost): the token is not exchanged any more, 401 token_invalid (never a 403 or a 5xx)',
    async run({ target, bff }) {
      const login = await passwordLogin(target, 'alice');
      const token = login.body.access_token as string;
      expect((await bffGet(bff, '/chatbot/trino/catalogs', token)).status).toBe(200);
      // The realm's back-channel logout goes nowhere for this one (the BFF was down, say).
      await target.setBackchannelLogoutUrl('platform-frontend', 'http://127.0.0.1:9/auth/backchannel-logout');
      try {
        const logout = await fetch(`${target.issuer}/protocol/openid-connect/logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: 'platform-frontend', refresh_token: login.body.refresh_token }),
        });
        expect(logout.status).toBe(204);
      } finally {
        await target.setBackchannelLogoutUrl('platform-frontend', `http://127.0.0.1:${target.backchannelPort}/auth/backchannel-logout`);
      }
      // The token itself still verifies (until it expires); another audience, so that no exchanged token of before the
      // logout is in the BFF's cache: the identity provider refuses the exchange.
      expect((await bffGet(bff, '/auth/me', token)).status).toBe(200);
      const after = await bffGet(bff, '/trino/gateway/backend/all', token);
      expect(after.status).toBe(401);
      expect(after.body.reason).toBe('token_invalid');
    },
  },
  {
    name: 'browser login in Chromium: authorization code + PKCE through the BFF’s /auth/login; the session works on both replicas, nowhere without its cookie',
    async run({ target, bff, bffB }) {
      await chromiumLogin(bff.url, 'alice', target.password('alice'), async (login) => {
        const authorize = login.navigations.map((u) => new URL(u)).find((u) => `${u.origin}${u.pathname}` === `${target.issuer}/protocol/openid-connect/auth`);
        expect(authorize).toBeDefined();
        expect(Object.fromEntries(['response_type', 'client_id', 'code_challenge_method'].map((k) => [k, authorize!.searchParams.get(k)]))).toEqual({
          response_type: 'code',
          client_id: target.env.BFF_LOGIN_CLIENT_ID,
          code_challenge_method: 'S256',
        });
        expect(authorize!.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(login.navigations.some((u) => u.startsWith(`${bff.url}/auth/callback?`))).toBe(true);
        expect(login.landed).toBe(`${bff.url}${SESSION_PATH}`);
        for (const replica of [bff, bffB]) {
          const res = await login.get(`${replica.url}${SESSION_PATH}`);
          expect(res.status).toBe(200);
          expect(JSON.parse(res.body)).toHaveProperty('experiments');
        }
      });
      expect((await fetch(`${bff.url}${SESSION_PATH}`)).status).toBe(401);
    },
  },
  {
    name: 'two replicas refresh one browser session at once: exactly one refresh reaches the identity provider, no user logged out',
    async run({ target, bff, bffB }) {
      const lifespanS = 4;
      await target.setLoginTokenLifespan(lifespanS);
      try {
        const cookie = cookieHeader(await formLogin(bff.url, 'alice', target.password('alice')));
        const call = async (replica: { url: string }) => (await fetch(`${replica.url}${SESSION_PATH}`, { headers: { cookie } })).status;
        expect(await call(bff)).toBe(200);
        const before = await target.refreshGrants();
        // Into the refresh margin (half the token's lifetime): the next call of every replica wants to refresh.
        const intoMargin = () => sleep((lifespanS / 2) * 1000 + 300);
        await intoMargin();
        const statuses = await Promise.all([bff, bffB, bff, bffB, bffB, bff].map(call));
        expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
        expect((await target.refreshGrants()) - before).toBe(1);
        // The session goes on with the rotated refresh token: its next refresh, on the other replica, is granted too.
        await intoMargin();
        expect(await call(bffB)).toBe(200);
        expect(await call(bff)).toBe(200);
        expect((await target.refreshGrants()) - before).toBe(2);
      } finally {
        await target.setLoginTokenLifespan(undefined);
      }
    },
  },
];
