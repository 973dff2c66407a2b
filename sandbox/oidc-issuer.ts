import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { SandboxServer } from './types';

/**
 * A standards OIDC issuer with Keycloak's URL layout and claim shapes, for sandbox mode and tests:
 * RS256 JWKS with rotation and withdrawal, password / client_credentials / refresh_token grants,
 * RFC 8693 standard token exchange with Keycloak V2 semantics (Keycloak's "standard token exchange":
 * subject_token + audience, a public client may not exchange, the result's aud is the requested client), and the browser
 * login: authorization code flow with PKCE (S256) through a login page for the demo users, an SSO
 * session cookie, and RP-initiated logout (end_session_endpoint).
 */
export interface SandboxUser {
  sub: string;
  username: string;
  password: string;
  email: string;
  name: string;
  roles: string[];
  groups: string[];
}

export interface SandboxClient {
  clientId: string;
  /** Confidential clients have a secret; public clients none. */
  secret?: string;
  /** Keycloak's "Standard token exchange" switch. */
  standardTokenExchange?: boolean;
  /** Has a service account (client credentials grant), with these realm roles. */
  serviceAccountRoles?: string[];
  /** Audiences put in tokens issued to this client (Keycloak audience mappers). */
  audienceMappers?: string[];
  /**
   * Keycloak's "User Realm Role" mapper (multivalued, access token): the user's realm roles under this claim
   * in every access token issued to this client, exchanged ones included (realm.json: platform-bff's
   * `platform_roles`, the Trino Gateway's privileges). No claim when the user has no realm role.
   */
  realmRolesClaim?: string;
  /**
   * The client's optional client scopes that carry one audience each (the realm's per-audience client scopes,
   * named after the audience they add): a token exchange may ask for them with `scope`; Keycloak only narrows
   * `aud` to what the client's own mappers and the requested scopes give.
   */
  optionalAudienceScopes?: string[];
  /**
   * "Standard flow" (authorization code): the valid redirect URIs, also accepted as post-logout
   * redirect URIs (Keycloak's "+"). A trailing `*` matches anything, as Keycloak's wildcard does.
   */
  redirectUris?: string[];
  /** PKCE the client requires (Keycloak's "Proof Key for Code Exchange Code Challenge Method"). */
  pkceMethod?: 'S256';
  /** Lifetime of access tokens issued to this client (Keycloak's client attribute access.token.lifespan); default: the realm's. */
  accessTokenLifespanS?: number;
  /**
   * Keycloak's "Backchannel logout URL": when a user session this client took part in ends (logout, an
   * admin's sign-out), a logout token is POSTed there, form-encoded, before the logout answers.
   */
  backchannelLogoutUrl?: string;
  /** Keycloak's "Backchannel logout session required" (default on): the logout token carries the session's sid. */
  backchannelLogoutSessionRequired?: boolean;
}

export interface OidcIssuerOptions {
  port?: number;
  realm?: string;
  users?: SandboxUser[];
  clients?: SandboxClient[];
  /** Access token lifetime in seconds (Keycloak's default: 300). */
  accessTokenLifespanS?: number;
}

export interface IssueOptions {
  /** A user's username: their claims are the base. */
  user?: string;
  /** Claims to set (undefined values remove a claim). */
  claims?: Record<string, unknown>;
  /** Header fields to add or override. */
  header?: Record<string, unknown>;
  expiresInS?: number;
  /** Sign with this kid (must be a known key, withdrawn or not). */
  kid?: string;
}

export interface OidcIssuer extends SandboxServer {
  readonly realm: string;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  readonly users: SandboxUser[];
  readonly clients: Map<string, SandboxClient>;
  /** A signed access token as the frontend client would get it. */
  issueToken(opts?: IssueOptions): Promise<string>;
  /** Generates a new signing key; the old one stays published. Returns the new kid. */
  rotateKeys(): Promise<string>;
  /** Removes a key from the JWKS. */
  withdrawKey(kid: string): void;
  readonly currentKid: string;
  /** The JWKS as currently published. */
  publicJwks(): { keys: JWK[] };
  /**
   * down: connections are reset; slowMs: every answer waits this long; held: every request waits,
   * unanswered, until held is set back to false (a test can then see the BFF answer before the issuer did).
   */
  setAvailability(a: { down?: boolean; slowMs?: number; held?: boolean }): void;
  /** Requests waiting for an answer while held. */
  readonly heldRequests: number;
  /** Ends every session of a user, as Keycloak's admin sign-out does (POST /admin/realms/{realm}/users/{id}/logout). */
  logoutUser(sub: string): Promise<void>;
  /** The back-channel logouts sent: to which URL, and the answer's status (0: unreachable). */
  readonly backchannelLogouts: Array<{ url: string; status: number }>;
  /** Token endpoint calls by grant type, and exchanges by `${sub}|${audience}`; logins = login form successes. */
  readonly stats: { grants: Record<string, number>; exchanges: Map<string, number>; jwksFetches: number; logins: number; logouts: number };
}

/** Keycloak's session ids (`sid`, `session_state`): 24 base64url characters. */
const sessionId = () => randomBytes(18).toString('base64url');

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export function demoUsers(): SandboxUser[] {
  return [
    {
      sub: '7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11',
      username: 'alice',
      password: 'alice',
      email: 'alice@example.com',
      name: 'Alice Liddell',
      roles: ['REGULAR'],
      groups: ['/data-team'],
    },
    {
      sub: '0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e62',
      username: 'admin',
      password: 'admin',
      email: 'admin@example.com',
      name: 'Platform Admin',
      roles: ['ADMIN', 'REGULAR'],
      groups: ['/platform-admins'],
    },
    { sub: '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c13', username: 'viewer', password: 'viewer', email: 'viewer@example.com', name: 'Read Only', roles: [], groups: [] },
  ];
}

interface KeyEntry {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
  published: boolean;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
};
const oauthError = (res: ServerResponse, status: number, error: string, description: string) => json(res, status, { error, error_description: description });

function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ...headers,
  });
  res.end(body);
};
const escapeHtml = (v: string) => v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const redirectTo = (res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}) => {
  res.writeHead(302, { location, 'cache-control': 'no-store', ...headers });
  res.end();
};
/** `uri` with these query parameters added (undefined values skipped). */
function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}
/** Keycloak's redirect URI check: exact, or a prefix match for a pattern ending in `*`; never a fragment. */
function redirectAllowed(patterns: string[] | undefined, uri: string): boolean {
  if (!patterns?.length || !uri || uri.includes('#')) return false;
  try {
    new URL(uri);
  } catch {
    return false;
  }
  return patterns.some((p) => (p.endsWith('*') ? uri.startsWith(p.slice(0, -1)) : uri === p));
}
function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** How long a login form and an authorization code stay valid (Keycloak: login timeout 30 min, code 60 s). */
const LOGIN_TIMEOUT_MS = 30 * 60_000;
const CODE_LIFESPAN_MS = 60_000;
/** Keycloak's SSO cookie (the identity of the browser's session at the issuer). */
const SSO_COOKIE = 'KEYCLOAK_IDENTITY';

function loginPage(realm: string, action: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to ${escapeHtml(realm)}</title>
<style>body{font-family:sans-serif;background:#f0f0f0}main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem}
label,input{display:block;width:100%;margin:.3rem 0}#kc-error{color:#b00}</style></head>
<body><main>
<h1 id="kc-page-title">Sign in to your account</h1>
${error ? `<div id="kc-error" role="alert">${escapeHtml(error)}</div>` : ''}
<form id="kc-form-login" action="${escapeHtml(action)}" method="post">
<label for="username">Username or email</label><input id="username" name="username" type="text" autocomplete="username" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<input type="submit" id="kc-login" name="login" value="Sign In">
</form>
<p>Sandbox users: alice / alice, admin / admin, viewer / viewer.</p>
</main></body></html>`;
}
const messagePage = (title: string, message: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body><main><h1 id="kc-page-title">${escapeHtml(title)}</h1><p id="kc-message">${escapeHtml(message)}</p></main></body></html>`;

const safeEqual = (a: string, b: string) => {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
};

export async function startOidcIssuer(opts: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const realm = opts.realm ?? 'platform';
  const lifespan = opts.accessTokenLifespanS ?? 300;
  const users = opts.users ?? demoUsers();
  const clients = new Map((opts.clients ?? []).map((c) => [c.clientId, c]));
  const keys: KeyEntry[] = [];
  let signing!: KeyEntry;
  const availability = { down: false, slowMs: 0 };
  /** While held: the releases of the requests waiting (undefined when answers are not held). */
  let held: Array<() => void> | undefined;
  const stats = { grants: {} as Record<string, number>, exchanges: new Map<string, number>(), jwksFetches: 0, logins: 0, logouts: 0 };
  const sockets = new Set<Socket>();
  let issuer = '';

  // Browser login state: login forms awaiting credentials, issued codes, SSO sessions (by sid).
  interface PendingLogin {
    clientId: string;
    redirectUri: string;
    state?: string;
    nonce?: string;
    scope: string;
    codeChallenge?: string;
    expiresAt: number;
  }
  interface IssuedCode {
    clientId: string;
    redirectUri: string;
    user: SandboxUser;
    nonce?: string;
    scope: string;
    codeChallenge?: string;
    sid: string;
    authTime: number;
    expiresAt: number;
    used: boolean;
  }
  const pendingLogins = new Map<string, PendingLogin>();
  /**
   * SSO sessions of the token endpoint and of the browser login, by sid: the refresh token each may still
   * use (the realm rotates refresh tokens strictly: revokeRefreshToken, reuse 0), and whether it ended.
   */
  interface UserSession {
    user: SandboxUser;
    clientId: string;
    scope: string;
    /** jti of the one refresh token that may be used next; undefined once a reuse revoked the session's refresh. */
    refreshJti?: string;
    reuseDetected: boolean;
  }
  const userSessions = new Map<string, UserSession>();
  /** Keycloak signs refresh tokens with the realm's HMAC key (HS512), not with the RSA keys of the JWKS. */
  const hmacKey = { kid: randomUUID(), secret: new Uint8Array(randomBytes(64)) };
  const codes = new Map<string, IssuedCode>();
  const ssoSessions = new Map<string, { user: SandboxUser; authTime: number }>();
  const endedSessions = new Set<string>();
  const backchannelLogouts: Array<{ url: string; status: number }> = [];

  /**
   * Ends a user session as Keycloak does: the session is gone (its refresh tokens and exchanges with it),
   * and each client of it with a back-channel logout URL gets a logout token (typ logout+jwt, the
   * back-channel logout event, sid when the client requires it, sub, iat, exp two minutes later, a jti),
   * posted form-encoded before the logout answers. A client that does not answer does not stop the logout.
   */
  async function endUserSession(sid: string): Promise<void> {
    const session = userSessions.get(sid);
    const user = session?.user ?? ssoSessions.get(sid)?.user;
    userSessions.delete(sid);
    ssoSessions.delete(sid);
    endedSessions.add(sid);
    const client = session ? clients.get(session.clientId) : undefined;
    if (!user || !client?.backchannelLogoutUrl) return;
    const now = Math.floor(Date.now() / 1000);
    const logoutToken = await sign(
      {
        iat: now,
        exp: now + 120,
        jti: randomUUID(),
        iss: issuer,
        aud: client.clientId,
        sub: user.sub,
        typ: 'Logout',
        ...(client.backchannelLogoutSessionRequired === false ? {} : { sid }),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      },
      { typ: 'logout+jwt' },
    );
    const status = await fetch(client.backchannelLogoutUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: logoutToken }),
      signal: AbortSignal.timeout(5000),
    }).then(
      async (res) => (await res.arrayBuffer(), res.status),
      () => 0,
    );
    backchannelLogouts.push({ url: client.backchannelLogoutUrl, status });
  }
  const sweepLoginState = () => {
    const now = Date.now();
    for (const [k, v] of pendingLogins) if (v.expiresAt < now) pendingLogins.delete(k);
    for (const [k, v] of codes) if (v.expiresAt < now) codes.delete(k);
  };

  async function addKey(): Promise<KeyEntry> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = randomBytes(16).toString('base64url');
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    const entry = { kid, privateKey, publicJwk, published: true };
    keys.push(entry);
    signing = entry;
    return entry;
  }
  await addKey();

  const serviceAccountIds = new Map<string, string>();
  const serviceAccountSub = (clientId: string) => {
    if (!serviceAccountIds.has(clientId)) serviceAccountIds.set(clientId, randomUUID());
    return serviceAccountIds.get(clientId)!;
  };

  const publicJwks = () => ({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk) });

  async function sign(payload: JWTPayload, header: Record<string, unknown> = {}, kid?: string): Promise<string> {
    const key = kid ? keys.find((k) => k.kid === kid) : signing;
    if (!key) throw new Error(`unknown kid ${kid}`);
    // jose refuses to sign a `crit` header it does not know: declare the names the caller asked for.
    const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((c) => [c, true])) : undefined;
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey, { crit });
  }

  /** An access token's lifetime for this client: its own access.token.lifespan, else the realm's. */
  const lifespanOf = (clientId: string) => clients.get(clientId)?.accessTokenLifespanS ?? lifespan;
  /** The client's realm-role mapper claim (Keycloak omits it when there is no role). */
  const rolesClaim = (client: SandboxClient | undefined, roles: string[]) =>
    client?.realmRolesClaim && roles.length ? { [client.realmRolesClaim]: [...roles] } : {};

  /** `aud` as Keycloak writes it: absent, one string, or an array. */
  const audClaim = (aud: string[]) => (aud.length === 0 ? undefined : aud.length === 1 ? aud[0] : aud);

  /**
   * A user's token claims as the realm's mappers write them: the client's audience mappers only (the realm
   * imports users with explicit realm roles, so no default roles and no `account` audience), realm roles
   * only when the user has some, the user's SSO session as `sid`.
   */
  function userClaims(u: SandboxUser, azp: string, typ: string, sid = sessionId(), scope = 'email profile'): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const client = clients.get(azp);
    return {
      exp: now + lifespanOf(azp),
      iat: now,
      jti: randomUUID(),
      iss: issuer,
      aud: audClaim([...(client?.audienceMappers ?? [])]),
      sub: u.sub,
      typ,
      azp,
      sid,
      acr: '1',
      ...(u.roles.length ? { realm_access: { roles: [...u.roles] } } : {}),
      ...rolesClaim(client, u.roles),
      scope,
      email_verified: true,
      preferred_username: u.username,
      email: u.email,
      name: u.name,
      given_name: u.name.split(' ')[0],
      family_name: u.name.split(' ').slice(1).join(' ') || undefined,
      groups: u.groups,
    };
  }

  async function signRefresh(payload: JWTPayload): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: 'HS512', typ: 'JWT', kid: hmacKey.kid }).sign(hmacKey.secret);
  }
  async function verifyRefresh(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, hmacKey.secret, { issuer, algorithms: ['HS512'] });
      return payload.typ === 'Refresh' ? payload : undefined;
    } catch {
      return undefined;
    }
  }
  /** A new refresh token of the session, which becomes the only one it accepts. */
  async function refreshTokenFor(sid: string, session: UserSession): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    session.refreshJti = jti;
    return signRefresh({
      exp: now + 1800,
      iat: now,
      jti,
      iss: issuer,
      aud: issuer,
      sub: session.user.sub,
      typ: 'Refresh',
      azp: session.clientId,
      sid,
      scope: session.scope,
    });
  }
  /** The token answer of a user session: access token, rotated refresh token, ID token when `openid` was asked for. */
  async function sessionTokens(sid: string, session: UserSession, extra: { nonce?: string; authTime?: number } = {}): Promise<Record<string, unknown>> {
    const u = session.user;
    const access = await sign(userClaims(u, session.clientId, 'Bearer', sid, session.scope));
    const body: Record<string, unknown> = {
      access_token: access,
      expires_in: lifespanOf(session.clientId),
      refresh_expires_in: 1800,
      refresh_token: await refreshTokenFor(sid, session),
      token_type: 'Bearer',
    };
    if (session.scope.split(' ').includes('openid')) {
      body.id_token = await sign({
        ...userClaims(u, session.clientId, 'ID', sid, session.scope),
        aud: session.clientId,
        scope: undefined,
        ...(extra.authTime !== undefined ? { auth_time: extra.authTime } : {}),
        ...(extra.nonce !== undefined ? { nonce: extra.nonce } : {}),
      });
    }
    return { ...body, 'not-before-policy': 0, session_state: sid, scope: session.scope };
  }
  /** The scope of a session: `openid` when asked for, then the default client scopes that show in tokens. */
  const sessionScope = (requested: string | null | undefined) => (requested?.split(' ').includes('openid') ? 'openid email profile' : 'email profile');

  async function verifyOwn(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = keys.find((k) => k.kid === header.kid && k.published);
          if (!key) throw new Error('unknown key');
          return importJWK(key.publicJwk, 'RS256');
        },
        { issuer, algorithms: ['RS256'] },
      );
      return payload;
    } catch {
      return undefined;
    }
  }

  function authenticateClient(req: IncomingMessage, form: URLSearchParams): SandboxClient | 'invalid' | undefined {
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, i));
      secret = decodeURIComponent(decoded.slice(i + 1));
    }
    if (!id) return undefined;
    const client = clients.get(id);
    if (!client) return 'invalid';
    if (client.secret !== undefined && (secret === undefined || !safeEqual(secret, client.secret))) return 'invalid';
    return client;
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const grant = form.get('grant_type') ?? '';
    stats.grants[grant] = (stats.grants[grant] ?? 0) + 1;
    const client = authenticateClient(req, form);
    if (client === 'invalid') return oauthError(res, 401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
    if (!client) return oauthError(res, 400, 'invalid_client', 'Missing client_id');
    const now = Math.floor(Date.now() / 1000);

    if (grant === 'password') {
      const u = users.find((x) => x.username === form.get('username'));
      if (!u || !safeEqual(u.password, form.get('password') ?? '')) return oauthError(res, 400, 'invalid_grant', 'Invalid user credentials');
      const sid = sessionId();
      const session: UserSession = { user: u, clientId: client.clientId, scope: sessionScope(form.get('scope')), reuseDetected: false };
      userSessions.set(sid, session);
      return json(res, 200, await sessionTokens(sid, session));
    }
    if (grant === 'refresh_token') {
      const p = await verifyRefresh(form.get('refresh_token') ?? '');
      if (!p || typeof p.sid !== 'string') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
      if (p.azp !== client.clientId) return oauthError(res, 400, 'invalid_grant', "Invalid refresh token. Token client and authorized client don't match");
      const session = userSessions.get(p.sid);
      // A refresh token of a session ended by a logout is dead.
      if (!session || endedSessions.has(p.sid)) return oauthError(res, 400, 'invalid_grant', 'Session not active');
      // Strict rotation (revokeRefreshToken, reuse 0): a refresh token used twice revokes the session's refresh.
      if (session.reuseDetected || p.jti !== session.refreshJti) {
        session.reuseDetected = true;
        return oauthError(res, 400, 'invalid_grant', 'Maximum allowed refresh token reuse exceeded');
      }
      return json(res, 200, await sessionTokens(p.sid, session));
    }
    if (grant === 'authorization_code') {
      const code = form.get('code') ?? '';
      const entry = codes.get(code);
      if (!entry || entry.expiresAt < Date.now()) return oauthError(res, 400, 'invalid_grant', 'Code not valid');
      if (entry.used) {
        codes.delete(code);
        return oauthError(res, 400, 'invalid_grant', 'Code not valid');
      }
      entry.used = true;
      if (entry.clientId !== client.clientId) return oauthError(res, 400, 'invalid_grant', 'Auth error');
      if (form.get('redirect_uri') !== entry.redirectUri) return oauthError(res, 400, 'invalid_grant', 'Incorrect redirect_uri');
      const verifier = form.get('code_verifier');
      if (entry.codeChallenge) {
        if (!verifier) return oauthError(res, 400, 'invalid_grant', 'PKCE code verifier not specified');
        if (!PKCE_VERIFIER.test(verifier)) return oauthError(res, 400, 'invalid_grant', 'PKCE invalid code verifier');
        const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
        if (!safeEqual(computed, entry.codeChallenge)) return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed: Invalid code verifier');
      } else if (verifier) {
        return oauthError(res, 400, 'invalid_grant', 'PKCE code verifier specified but challenge not present in authorization');
      }
      if (endedSessions.has(entry.sid)) return oauthError(res, 400, 'invalid_grant', 'Session not active');
      const session: UserSession = { user: entry.user, clientId: client.clientId, scope: sessionScope(entry.scope), reuseDetected: false };
      userSessions.set(entry.sid, session);
      return json(res, 200, await sessionTokens(entry.sid, session, { nonce: entry.nonce, authTime: entry.authTime }));
    }
    if (grant === 'client_credentials') {
      if (!client.secret || !client.serviceAccountRoles) return oauthError(res, 401, 'unauthorized_client', 'Client not enabled to retrieve service account');
      // The service account is a user of its own (a UUID subject); its token has only the client's audience mappers.
      const token = await sign({
        exp: now + lifespanOf(client.clientId),
        iat: now,
        jti: randomUUID(),
        iss: issuer,
        aud: audClaim([...(client.audienceMappers ?? [])]),
        sub: serviceAccountSub(client.clientId),
        typ: 'Bearer',
        azp: client.clientId,
        acr: '1',
        ...(client.serviceAccountRoles.length ? { realm_access: { roles: [...client.serviceAccountRoles] } } : {}),
        ...rolesClaim(client, client.serviceAccountRoles),
        scope: 'email profile',
        email_verified: false,
        preferred_username: `service-account-${client.clientId}`,
      });
      return json(res, 200, {
        access_token: token,
        expires_in: lifespanOf(client.clientId),
        refresh_expires_in: 0,
        token_type: 'Bearer',
        'not-before-policy': 0,
        scope: 'email profile',
      });
    }
    if (grant === TOKEN_EXCHANGE_GRANT) {
      if (!client.secret) return oauthError(res, 400, 'invalid_client', 'Public client is not allowed to exchange token');
      if (!client.standardTokenExchange) return oauthError(res, 400, 'invalid_request', 'Standard token exchange is not enabled for the requested client');
      if (form.get('subject_token_type') !== ACCESS_TOKEN_TYPE) return oauthError(res, 400, 'invalid_request', 'Parameter subject_token_type not supported');
      const requested = form.get('requested_token_type') ?? ACCESS_TOKEN_TYPE;
      if (requested !== ACCESS_TOKEN_TYPE) return oauthError(res, 400, 'invalid_request', 'requested_token_type unsupported');
      for (const p of ['requested_subject', 'requested_issuer', 'subject_issuer', 'resource']) {
        if (form.has(p)) return oauthError(res, 400, 'invalid_request', `Parameter '${p}' not supported for standard token exchange`);
      }
      const subject = await verifyOwn(form.get('subject_token') ?? '');
      if (!subject || subject.typ !== 'Bearer' || (subject.exp ?? 0) < now) return oauthError(res, 400, 'invalid_request', 'Invalid token');
      // The subject's session must still be active: after a logout its tokens are not exchanged any more.
      if (typeof subject.sid === 'string' && (endedSessions.has(subject.sid) || !userSessions.has(subject.sid))) {
        return oauthError(res, 400, 'invalid_request', 'Invalid token');
      }
      const subjectAud = typeof subject.aud === 'string' ? [subject.aud] : (subject.aud ?? []);
      if (!subjectAud.includes(client.clientId) && subject.azp !== client.clientId) {
        return oauthError(res, 403, 'access_denied', 'Client is not within the token audience');
      }
      const audiences = form.getAll('audience');
      for (const a of audiences) if (!clients.has(a)) return oauthError(res, 400, 'invalid_client', 'Audience not found');
      // `scope` may only name the client's optional scopes; each adds the audience it is named after.
      const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      const unknown = scopes.filter((sc) => !(client.optionalAudienceScopes ?? []).includes(sc));
      if (unknown.length) return oauthError(res, 400, 'invalid_scope', `Invalid scopes: ${unknown.join(' ')}`);
      // Keycloak builds the new token from the requesting client's mappers and only narrows `aud` to what they give.
      const available = [...(client.audienceMappers ?? []), ...scopes];
      for (const a of audiences) if (!available.includes(a)) return oauthError(res, 400, 'invalid_request', `Requested audience not available: ${a}`);
      const aud = audiences.length ? audiences : available;
      for (const a of aud) {
        const key = `${subject.sub}|${a}`;
        stats.exchanges.set(key, (stats.exchanges.get(key) ?? 0) + 1);
      }
      const exp = now + lifespanOf(client.clientId);
      const scope = [...new Set(['email', ...scopes, 'profile'])].join(' ');
      const sid = sessionId();
      const { jti: _jti, iat: _iat, nonce: _nonce, auth_time: _authTime, at_hash: _atHash, ...rest } = subject;
      // The requesting client's own mappers: its realm-role claim carries the subject's realm roles.
      for (const c of clients.values()) if (c.realmRolesClaim) delete rest[c.realmRolesClaim];
      const subjectRoles = ((subject.realm_access as { roles?: string[] } | undefined)?.roles ?? []).filter((r) => typeof r === 'string');
      const token = await sign({
        ...rest,
        ...rolesClaim(client, subjectRoles),
        jti: randomUUID(),
        iat: now,
        exp,
        aud: audClaim(aud),
        azp: client.clientId,
        sid,
        scope,
      });
      return json(res, 200, {
        access_token: token,
        expires_in: exp - now,
        refresh_expires_in: 0,
        token_type: 'Bearer',
        'not-before-policy': 0,
        session_state: sid,
        scope,
        issued_token_type: ACCESS_TOKEN_TYPE,
      });
    }
    return oauthError(res, 400, 'unsupported_grant_type', 'Unsupported grant_type');
  }

  const base = `/realms/${realm}`;

  /** Ends the login with a code for the client: back to its redirect URI with code, state, session_state and iss (RFC 9207). */
  function issueCode(res: ServerResponse, pending: PendingLogin, user: SandboxUser, sid: string, authTime: number, headers: Record<string, string | string[]> = {}) {
    const code = `${randomUUID()}.${randomBytes(24).toString('base64url')}`;
    codes.set(code, {
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      user,
      nonce: pending.nonce,
      scope: pending.scope,
      codeChallenge: pending.codeChallenge,
      sid,
      authTime,
      expiresAt: Date.now() + CODE_LIFESPAN_MS,
      used: false,
    });
    redirectTo(res, withQuery(pending.redirectUri, { state: pending.state, session_state: sid, iss: issuer, code }), headers);
  }

  /** GET …/protocol/openid-connect/auth: checks the client and redirect URI, then the login page (or SSO). */
  function authorizationEndpoint(req: IncomingMessage, res: ServerResponse, q: URLSearchParams) {
    sweepLoginState();
    const client = clients.get(q.get('client_id') ?? '');
    if (!client) return html(res, 400, messagePage('We are sorry...', 'Client not found.'));
    const redirectUri = q.get('redirect_uri') ?? '';
    // Keycloak never redirects to an unregistered URI: it shows an error page instead.
    if (!redirectAllowed(client.redirectUris, redirectUri)) return html(res, 400, messagePage('We are sorry...', 'Invalid parameter: redirect_uri'));
    const state = q.get('state') ?? undefined;
    const back = (error: string, description: string) => redirectTo(res, withQuery(redirectUri, { error, error_description: description, state, iss: issuer }));
    if (q.get('response_type') !== 'code') return back('unsupported_response_type', 'Client is not allowed to initiate browser login with given response_type.');
    const challenge = q.get('code_challenge') ?? undefined;
    const method = q.get('code_challenge_method') ?? undefined;
    if (challenge !== undefined || method !== undefined) {
      if (method !== 'S256') return back('invalid_request', 'Invalid parameter: code challenge method is not matching the configured one');
      if (!challenge || !S256_CHALLENGE.test(challenge)) return back('invalid_request', 'Invalid parameter: code_challenge');
    } else if (client.pkceMethod) {
      return back('invalid_request', 'Missing parameter: code_challenge_method');
    }
    const pending: PendingLogin = {
      clientId: client.clientId,
      redirectUri,
      state,
      nonce: q.get('nonce') ?? undefined,
      scope: q.get('scope') ?? 'openid',
      codeChallenge: challenge,
      expiresAt: Date.now() + LOGIN_TIMEOUT_MS,
    };
    const sid = cookieValue(req, SSO_COOKIE);
    const sso = sid ? ssoSessions.get(sid) : undefined;
    const prompt = q.get('prompt');
    if (sid && sso && prompt !== 'login') return issueCode(res, pending, sso.user, sid, sso.authTime);
    if (prompt === 'none') return back('login_required', 'Login required');
    const sessionCode = randomBytes(24).toString('base64url');
    pendingLogins.set(sessionCode, pending);
    return html(res, 200, loginPage(realm, `${issuer}/login-actions/authenticate?session_code=${sessionCode}&client_id=${encodeURIComponent(client.clientId)}`));
  }

  /** POST …/login-actions/authenticate: the login form. Wrong credentials show the form again. */
  async function loginAction(req: IncomingMessage, res: ServerResponse, q: URLSearchParams) {
    const sessionCode = q.get('session_code') ?? '';
    const pending = pendingLogins.get(sessionCode);
    if (!pending || pending.expiresAt < Date.now()) {
      return html(res, 400, messagePage('Page has expired', 'Your login attempt timed out. Login will start from the beginning.'));
    }
    const form = new URLSearchParams(await readBody(req));
    const name = form.get('username') ?? '';
    const u = users.find((x) => x.username === name || x.email === name);
    if (!u || !safeEqual(u.password, form.get('password') ?? '')) {
      return html(
        res,
        200,
        loginPage(
          realm,
          `${issuer}/login-actions/authenticate?session_code=${sessionCode}&client_id=${encodeURIComponent(pending.clientId)}`,
          'Invalid username or password.',
        ),
      );
    }
    pendingLogins.delete(sessionCode);
    stats.logins++;
    const sid = sessionId();
    const authTime = Math.floor(Date.now() / 1000);
    ssoSessions.set(sid, { user: u, authTime });
    const cookie = `${SSO_COOKIE}=${sid}; Path=${base}/; HttpOnly; SameSite=Lax`;
    return issueCode(res, pending, u, sid, authTime, { 'set-cookie': cookie });
  }

  /** GET or POST …/protocol/openid-connect/logout: RP-initiated logout (id_token_hint, post_logout_redirect_uri, state). */
  async function endSessionEndpoint(req: IncomingMessage, res: ServerResponse, q: URLSearchParams) {
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : q;
    // A client's logout with its refresh token (no browser): the session ends, 204.
    if (req.method === 'POST' && params.has('refresh_token')) {
      const client = authenticateClient(req, params);
      if (client === 'invalid' || !client) return oauthError(res, 401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
      const p = await verifyRefresh(params.get('refresh_token') ?? '');
      if (!p || typeof p.sid !== 'string') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
      if (p.azp !== client.clientId) return oauthError(res, 400, 'invalid_grant', "Invalid refresh token. Token client and authorized client don't match");
      await endUserSession(p.sid);
      stats.logouts++;
      res.writeHead(204, { 'cache-control': 'no-store' });
      return res.end();
    }
    const hint = params.get('id_token_hint');
    let idToken: JWTPayload | undefined;
    if (hint) {
      idToken = await verifyOwn(hint);
      if (!idToken || idToken.typ !== 'ID') return html(res, 400, messagePage('We are sorry...', 'Invalid parameter: id_token_hint'));
    }
    const postLogout = params.get('post_logout_redirect_uri') ?? undefined;
    if (postLogout) {
      const clientId = params.get('client_id') ?? (typeof idToken?.aud === 'string' ? idToken.aud : typeof idToken?.azp === 'string' ? idToken.azp : undefined);
      if (!clientId) return html(res, 400, messagePage('We are sorry...', 'Missing parameters: id_token_hint'));
      if (!redirectAllowed(clients.get(clientId)?.redirectUris, postLogout)) return html(res, 400, messagePage('We are sorry...', 'Invalid redirect uri'));
    }
    const sid = (typeof idToken?.sid === 'string' ? idToken.sid : undefined) ?? cookieValue(req, SSO_COOKIE);
    if (sid) await endUserSession(sid);
    stats.logouts++;
    const clear = `${SSO_COOKIE}=; Path=${base}/; HttpOnly; SameSite=Lax; Max-Age=0`;
    if (postLogout) return redirectTo(res, withQuery(postLogout, { state: params.get('state') ?? undefined }), { 'set-cookie': clear });
    return html(res, 200, messagePage('You are logged out', 'You are logged out.'), { 'set-cookie': clear });
  }

  const server = createServer((req, res) => {
    const handle = async () => {
      if (availability.down) {
        req.socket.destroy();
        return;
      }
      if (availability.slowMs > 0) await new Promise((r) => setTimeout(r, availability.slowMs));
      if (held) await new Promise<void>((r) => held!.push(r));
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === `${base}/.well-known/openid-configuration`) {
        const p = `${issuer}/protocol/openid-connect`;
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${p}/auth`,
          token_endpoint: `${p}/token`,
          userinfo_endpoint: `${p}/userinfo`,
          end_session_endpoint: `${p}/logout`,
          jwks_uri: `${p}/certs`,
          introspection_endpoint: `${p}/token/introspect`,
          grant_types_supported: ['authorization_code', 'refresh_token', 'password', 'client_credentials', TOKEN_EXCHANGE_GRANT],
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          code_challenge_methods_supported: ['S256'],
          authorization_response_iss_parameter_supported: true,
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        });
      }
      if (req.method === 'GET' && path === `${base}/protocol/openid-connect/auth`) {
        return authorizationEndpoint(req, res, new URL(req.url ?? '/', 'http://x').searchParams);
      }
      if (req.method === 'POST' && path === `${base}/login-actions/authenticate`) {
        return loginAction(req, res, new URL(req.url ?? '/', 'http://x').searchParams);
      }
      if ((req.method === 'GET' || req.method === 'POST') && path === `${base}/protocol/openid-connect/logout`) {
        return endSessionEndpoint(req, res, new URL(req.url ?? '/', 'http://x').searchParams);
      }
      if (req.method === 'GET' && path === `${base}/protocol/openid-connect/certs`) {
        stats.jwksFetches++;
        return json(res, 200, publicJwks(), { 'cache-control': 'no-cache' });
      }
      if (req.method === 'POST' && path === `${base}/protocol/openid-connect/token`) return tokenEndpoint(req, res);
      if (req.method === 'GET' && path === `${base}/protocol/openid-connect/userinfo`) {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const p = token ? await verifyOwn(token) : undefined;
        if (!p) return json(res, 401, { error: 'invalid_token' });
        return json(res, 200, { sub: p.sub, preferred_username: p.preferred_username, email: p.email, name: p.name });
      }
      json(res, 404, { error: 'Not Found' });
    };
    handle().catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${url}${base}`;

  return {
    url,
    realm,
    issuer,
    jwksUri: `${issuer}/protocol/openid-connect/certs`,
    tokenEndpoint: `${issuer}/protocol/openid-connect/token`,
    users,
    clients,
    stats,
    get currentKid() {
      return signing.kid;
    },
    async issueToken(o: IssueOptions = {}) {
      const u = users.find((x) => x.username === (o.user ?? 'alice'));
      if (!u) throw new Error(`unknown sandbox user ${o.user}`);
      const frontend = [...clients.values()].find((c) => !c.secret)?.clientId ?? 'platform-frontend';
      const claims: Record<string, unknown> = { ...userClaims(u, frontend, 'Bearer') };
      if (o.expiresInS !== undefined) claims.exp = Math.floor(Date.now() / 1000) + o.expiresInS;
      for (const [k, v] of Object.entries(o.claims ?? {})) {
        if (v === undefined) delete claims[k];
        else claims[k] = v;
      }
      // As if the user had logged in: the token's session is an active one.
      if (typeof claims.sid === 'string' && !userSessions.has(claims.sid) && !endedSessions.has(claims.sid)) {
        userSessions.set(claims.sid, { user: u, clientId: frontend, scope: 'email profile', reuseDetected: false });
      }
      return sign(claims as JWTPayload, o.header, o.kid);
    },
    async rotateKeys() {
      return (await addKey()).kid;
    },
    withdrawKey(kid: string) {
      const k = keys.find((x) => x.kid === kid);
      if (k) k.published = false;
      if (signing.kid === kid) {
        const next = [...keys].reverse().find((x) => x.published);
        if (next) signing = next;
      }
    },
    publicJwks,
    backchannelLogouts,
    async logoutUser(sub: string) {
      const sids = new Set([...userSessions].filter(([, s]) => s.user.sub === sub).map(([sid]) => sid));
      for (const [sid, s] of ssoSessions) if (s.user.sub === sub) sids.add(sid);
      for (const sid of sids) await endUserSession(sid);
      stats.logouts++;
    },
    setAvailability(a) {
      if (a.down !== undefined) availability.down = a.down;
      if (a.slowMs !== undefined) availability.slowMs = a.slowMs;
      if (a.down) for (const s of sockets) s.destroy();
      if (a.held === true) held ??= [];
      if (a.held === false && held) {
        const waiting = held;
        held = undefined;
        for (const release of waiting) release();
      }
    },
    get heldRequests() {
      return held?.length ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
