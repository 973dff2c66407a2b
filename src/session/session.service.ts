import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import { AccessDecider } from '../auth/access-decider.service';
import { denialProblem } from '../auth/auth.guard';
import type { AccessPolicy } from '../auth/access-policy';
import { Revocations, sessionOf, type Revocation } from '../auth/revocation.service';
import type { SessionCredentials } from '../auth/credentials';
import { MetricsService } from '../common/metrics.service';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { LoginRejected, OidcLoginClient, type LoginTokens } from './oidc-login.client';
import { clearSessionCookie, LOGIN_TTL_MS, readCookie } from './session-cookie';
import { SessionSealer } from './session-sealer';

/** A browser session as stored (sealed) in the StateStore. Never serialised anywhere else. */
interface StoredSession {
  v: 1;
  subject: string;
  username?: string;
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch ms. */
  accessExpiresAt: number;
  accessLifetimeMs: number;
  refreshExpiresAt?: number;
  createdAt: number;
  /** Absolute end of the session, epoch ms. */
  expiresAt: number;
}

/** A login in flight, between /auth/login and /auth/callback (single use). */
interface PendingLogin {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  redirectUri: string;
}

/** The session's current access token, for the request at hand. */
export interface SessionAccess {
  accessToken: string;
}

export const SESSION_POLICY: AccessPolicy = Object.freeze({ kind: 'authenticated', rule: 'browser-session' });
/** Where a login returns to when it names nothing (the MLflow UI). */
export const DEFAULT_RETURN_TO = '/mlflow/';
/** The longest a session lives, whatever its refresh token says. */
export const SESSION_MAX_MS = 12 * 3600_000;
/** Refresh this long before the access token expires (at most half its lifetime). */
export const REFRESH_MARGIN_MS = 60_000;
/**
 * A session's refresh holds a lease in the StateStore this long: one refresh per session across replicas
 * (the realm rotates refresh tokens strictly: a second refresh with the same token logs the user out).
 * Longer than a refresh can take (discovery and the grant, 5 s each), so it never lapses under its holder.
 */
export const REFRESH_LEASE_MS = 15_000;

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const STATE = /^[A-Za-z0-9_-]{20,128}$/;
const sessionKey = (id: string) => `session:${createHash('sha256').update(id).digest('hex')}`;
const refreshLeaseKey = (id: string) => `session:refresh:${createHash('sha256').update(id).digest('hex')}`;
const loginKey = (state: string) => `session:login:${createHash('sha256').update(state).digest('hex')}`;
/** The browser sessions (their keys) opened on one identity-provider session (issuer, sid): ended with it. */
const bySidKey = (issuer: string, sid: string) => `session:sid:${createHash('sha256').update(`${issuer}\n${sid}`).digest('hex')}`;

/**
 * Browser sessions: the OIDC login (authorization code + PKCE, state and nonce, through
 * OidcLoginClient), server-side sessions in the StateStore (Valkey when configured), sealed at
 * rest and keyed by a hash of the cookie's random id, and their refresh before the access token
 * expires. The cookie carries nothing but that id. Every use of a session's token goes through
 * the AccessDecider like any bearer token.
 */
@Injectable()
export class SessionService implements SessionCredentials {
  private readonly log = new Logger('Session');
  private readonly sealer: SessionSealer;
  private readonly refreshing = new Map<string, Promise<SessionAccess | undefined>>();
  private readonly events;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: StateStore,
    private readonly login: OidcLoginClient,
    private readonly decider: AccessDecider,
    metrics: MetricsService,
    revocations: Revocations,
  ) {
    this.sealer = new SessionSealer(config.session.secret);
    this.events = metrics.counter('bff_sessions_total', 'Browser session events (login, refresh, logout, expired, rejected)', ['event']);
    // A logout at the identity provider (back-channel) destroys the browser sessions opened on that session.
    revocations.listen({ shared: (r) => this.endIdentitySession(r) });
  }

  /**
   * Starts a login: the pending state is stored, the caller redirects to the returned URL and binds `state`
   * to the browser. Refused (429) when `client` (its address) or everyone together has as many logins in
   * flight as allowed (LOGIN_PENDING_PER_CLIENT, LOGIN_PENDING_MAX).
   */
  async beginLogin(returnTo: string, redirectUri: string, client: string): Promise<{ authorizationUrl: string; state: string }> {
    await this.admitLogin(client);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authorizationUrl = await this.login.authorizationUrl({
      redirectUri,
      state,
      nonce,
      codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    });
    const pending: PendingLogin = { codeVerifier, nonce, returnTo, redirectUri };
    await this.store.setJson(loginKey(state), this.sealer.seal(pending, loginKey(state)), LOGIN_TTL_MS);
    return { authorizationUrl, state };
  }

  /**
   * Counts a login in flight, or refuses it. A pending login lives LOGIN_TTL_MS; the logins started in the
   * current fixed window of that length and in the previous one include every login still pending, so
   * their sum bounds what is pending (in Valkey: across replicas). A refused login is not counted.
   */
  private async admitLogin(client: string): Promise<void> {
    const { pendingMax, pendingPerClient } = this.config.session.login;
    const window = Math.floor(Date.now() / LOGIN_TTL_MS);
    const ttlMs = 2 * LOGIN_TTL_MS + 60_000;
    const clientKey = (w: number) => `session:login-count:client:${client}:${w}`;
    const totalKey = (w: number) => `session:login-count:all:${w}`;
    const admit = async (key: (w: number) => string, max: number, who: string) => {
      const now = await this.store.incrBy(key(window), 1, ttlMs);
      const before = (await this.store.getJson<number>(key(window - 1))) ?? 0;
      if (now + before <= max) return true;
      await this.store.incrBy(key(window), -1, ttlMs);
      this.events.inc({ event: 'refused' });
      this.log.warn({ event: 'session.login_refused', who, max });
      return false;
    };
    const retry = { 'retry-after': String(Math.ceil(((window + 1) * LOGIN_TTL_MS - Date.now()) / 1000)) };
    if (!(await admit(clientKey, pendingPerClient, 'client'))) {
      throw new ProblemException(429, 'rate_limited', `at most ${pendingPerClient} logins in flight per client; finish one or retry later`, undefined, retry);
    }
    if (!(await admit(totalKey, pendingMax, 'all'))) {
      await this.store.incrBy(clientKey(window), -1, ttlMs);
      throw new ProblemException(429, 'rate_limited', 'too many logins in flight; retry later', undefined, retry);
    }
  }

  /**
   * Ends a login: the state must be the one bound to this browser (cookie), the pending login is
   * taken (single use), the code redeemed, and the access token must be one the BFF accepts.
   * Returns the new session id (a fresh one: no fixation) and where to go.
   */
  async completeLogin(query: string, boundState: string | undefined): Promise<{ sessionId: string; returnTo: string }> {
    const params = new URLSearchParams(query);
    const state = params.get('state') ?? '';
    if (!STATE.test(state) || boundState !== state) {
      this.events.inc({ event: 'rejected' });
      throw problem.badRequest('this login was not started in this browser, or it expired: start again at /auth/login');
    }
    const sealed = await this.store.takeJson<string>(loginKey(state));
    const pending = sealed ? this.sealer.open<PendingLogin>(sealed, loginKey(state)) : undefined;
    if (!pending) {
      this.events.inc({ event: 'rejected' });
      throw problem.badRequest('this login expired or was already completed: start again at /auth/login');
    }
    let tokens: LoginTokens;
    try {
      tokens = await this.login.exchangeCode(new URL(`${pending.redirectUri}?${query}`), { codeVerifier: pending.codeVerifier, state, nonce: pending.nonce });
    } catch (err) {
      if (!(err instanceof LoginRejected)) throw err;
      this.events.inc({ event: 'rejected' });
      this.log.warn({ event: 'session.login_rejected', error: err.error });
      throw problem.unauthorized('token_invalid', `the login did not complete (${err.error}): start again at /auth/login`);
    }
    const decision = await this.decider.decide({ authorization: `Bearer ${tokens.accessToken}` }, SESSION_POLICY, '/auth/callback');
    if (!decision.allow) throw denialProblem(decision);
    const now = Date.now();
    const principal = decision.principal!;
    const session = this.sessionFrom(tokens, now, { subject: principal.subject, username: principal.username, createdAt: now, expiresAt: now + SESSION_MAX_MS });
    const sessionId = randomBytes(32).toString('base64url');
    await this.save(sessionId, session, now);
    const sid = sessionOf(principal);
    if (sid !== undefined) await this.store.sAdd(bySidKey(principal.issuer, sid), sessionKey(sessionId), SESSION_MAX_MS);
    this.events.inc({ event: 'login' });
    this.log.log({ event: 'session.login', sub: principal.subject, username: principal.username });
    return { sessionId, returnTo: pending.returnTo };
  }

  /** The session id a request's session cookie names, if it carries one (for modules that accept browser sessions). */
  sessionIdOf(req: FastifyRequest): string | undefined {
    return readCookie(req, this.config.session.cookieName);
  }

  /** Clears the session cookie of a request whose session is gone or no longer good. */
  dropCookie(reply: FastifyReply): void {
    clearSessionCookie(reply, this.config);
  }

  /** The session credential loader of the identity chain (SESSION_CREDENTIALS): the session's current access token. */
  async accessToken(sessionId: string): Promise<string | undefined> {
    return (await this.access(sessionId))?.accessToken;
  }

  /**
   * The session's access token, refreshed first when it expires within the margin (one refresh per
   * session at a time: in this process, and across replicas through a lease in the StateStore).
   * Undefined when there is no such session any more.
   */
  async access(sessionId: string | undefined): Promise<SessionAccess | undefined> {
    if (!sessionId || !SESSION_ID.test(sessionId)) return undefined;
    const now = Date.now();
    const session = await this.load(sessionId);
    if (!session) return undefined;
    if (now >= session.expiresAt) {
      await this.store.del(sessionKey(sessionId));
      this.events.inc({ event: 'expired' });
      return undefined;
    }
    const margin = Math.min(REFRESH_MARGIN_MS, session.accessLifetimeMs / 2);
    if (session.accessExpiresAt - now > margin) return { accessToken: session.accessToken };
    let inFlight = this.refreshing.get(sessionId);
    if (!inFlight) {
      inFlight = this.refreshOnce(sessionId, session).finally(() => this.refreshing.delete(sessionId));
      this.refreshing.set(sessionId, inFlight);
    }
    return inFlight;
  }

  /** Ends a session here; returns its ID token for the identity provider's logout. */
  async end(sessionId: string | undefined): Promise<{ idToken?: string } | undefined> {
    if (!sessionId || !SESSION_ID.test(sessionId)) return undefined;
    const session = await this.load(sessionId);
    await this.store.del(sessionKey(sessionId));
    if (!session) return undefined;
    this.events.inc({ event: 'logout' });
    this.log.log({ event: 'session.logout', sub: session.subject, username: session.username });
    return { idToken: session.idToken };
  }

  private async endIdentitySession(r: Revocation): Promise<void> {
    if (r.sid === undefined) return;
    const index = bySidKey(r.issuer, r.sid);
    const keys = await this.store.sMembers(index);
    for (const key of keys) await this.store.del(key);
    await this.store.del(index);
    if (keys.length > 0) {
      this.events.inc({ event: 'logout' }, keys.length);
      this.log.log({ event: 'session.backchannel_logout', sessions: keys.length });
    }
  }

  endSessionUrl(idTokenHint: string | undefined, postLogoutRedirectUri: string): Promise<string | undefined> {
    return this.login.endSessionUrl({ idTokenHint, postLogoutRedirectUri });
  }

  /**
   * One refresh of the session across replicas: whoever takes the session's lease refreshes; the others
   * wait for the session record to change (they use the new tokens) or to disappear (the refresh was
   * refused: the session ended), and take the lease themselves when it is released with neither (the
   * identity provider could not be reached). `seen` is the record as this request read it.
   */
  private async refreshOnce(sessionId: string, seen: StoredSession): Promise<SessionAccess | undefined> {
    const lease = refreshLeaseKey(sessionId);
    const changed = (current: StoredSession | undefined) => current?.accessToken !== seen.accessToken;
    const deadline = Date.now() + 2 * REFRESH_LEASE_MS;
    for (let pause = 20; ; pause = Math.min(2 * pause, 250)) {
      if (await this.store.setIfAbsent(lease, 1, REFRESH_LEASE_MS)) {
        try {
          // Another replica may have refreshed between this request's read and its lease.
          const current = await this.load(sessionId);
          if (changed(current)) return current && { accessToken: current.accessToken };
          return await this.refresh(sessionId, current!);
        } finally {
          await this.store.del(lease);
        }
      }
      await sleep(pause);
      const current = await this.load(sessionId);
      if (changed(current)) return current && { accessToken: current.accessToken };
      if (Date.now() >= deadline) {
        if (seen.accessExpiresAt > Date.now()) return { accessToken: seen.accessToken };
        throw problem.unavailable('identity_provider_unavailable', 'the session could not be refreshed in time; retry');
      }
    }
  }

  private async refresh(sessionId: string, session: StoredSession): Promise<SessionAccess | undefined> {
    const now = Date.now();
    const stillValid = session.accessExpiresAt > now;
    if (!session.refreshToken || (session.refreshExpiresAt !== undefined && session.refreshExpiresAt <= now)) {
      if (stillValid) return { accessToken: session.accessToken };
      await this.store.del(sessionKey(sessionId));
      this.events.inc({ event: 'expired' });
      return undefined;
    }
    let tokens: LoginTokens;
    try {
      tokens = await this.login.refresh(session.refreshToken);
    } catch (err) {
      if (err instanceof LoginRejected) {
        await this.store.del(sessionKey(sessionId));
        this.events.inc({ event: 'expired' });
        this.log.log({ event: 'session.refresh_rejected', sub: session.subject, error: err.error });
        return undefined;
      }
      // The identity provider is unreachable: keep serving the current token while it lasts.
      if (stillValid) return { accessToken: session.accessToken };
      throw err;
    }
    const next = this.sessionFrom(tokens, now, session);
    await this.save(sessionId, next, now);
    this.events.inc({ event: 'refresh' });
    return { accessToken: next.accessToken };
  }

  private sessionFrom(
    tokens: LoginTokens,
    now: number,
    base: Pick<StoredSession, 'subject' | 'username' | 'createdAt' | 'expiresAt'> & Partial<StoredSession>,
  ): StoredSession {
    const lifetimeMs = Math.max(1, tokens.expiresInS ?? 300) * 1000;
    return {
      v: 1,
      subject: base.subject,
      username: base.username,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken ?? base.refreshToken,
      idToken: tokens.idToken ?? base.idToken,
      accessExpiresAt: now + lifetimeMs,
      accessLifetimeMs: lifetimeMs,
      refreshExpiresAt: tokens.refreshExpiresInS ? now + tokens.refreshExpiresInS * 1000 : tokens.refreshToken ? undefined : base.refreshExpiresAt,
      createdAt: base.createdAt,
      expiresAt: base.expiresAt,
    };
  }

  private async save(sessionId: string, session: StoredSession, now: number): Promise<void> {
    const end = Math.min(session.expiresAt, Math.max(session.refreshExpiresAt ?? session.expiresAt, session.accessExpiresAt));
    const key = sessionKey(sessionId);
    await this.store.setJson(key, this.sealer.seal(session, key), Math.max(1000, end - now));
  }

  private async load(sessionId: string): Promise<StoredSession | undefined> {
    const key = sessionKey(sessionId);
    const sealed = await this.store.getJson<string>(key);
    const session = sealed ? this.sealer.open<StoredSession>(sealed, key) : undefined;
    return session?.v === 1 ? session : undefined;
  }
}
