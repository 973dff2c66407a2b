import { Logger } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { SESSION_CREDENTIALS, type SessionCredentials } from './credentials';
import { BREAK_GLASS_AUTHENTICATOR, type BreakGlassAuthenticator } from './decorators';
import { hs256 } from '../../test/support/jwt';
import { WsTicketService } from './ws-ticket.service';
import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../common/metrics.service';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { AccessDecider, type Decision } from './access-decider.service';
import { ADMIN_POLICY, AGENTS_POLICY, AUTHENTICATED_POLICY, PUBLIC_POLICY } from './access-policy';
import { Revocations } from './revocation.service';
import { TokenVerifier } from './token-verifier.service';

const AUD = 'platform-bff';
const ISS = 'https://hs256.test/issuer';
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const config = {
  clientId: AUD,
  keycloak: { issuer: 'https://kc.test/realms/x' },
  revocation: { ttlS: 3600 },
  auth: { audiences: [AUD], clockSkewS: 0, issuers: [{ issuer: ISS, kind: 'hs256', secret: SECRET, algorithms: ['HS256'] }] },
} as unknown as AppConfig;

const nowS = () => Math.floor(Date.now() / 1000);
const token = (roles: string[] = ['REGULAR'], claims: Record<string, unknown> = {}) =>
  hs256({}, { iss: ISS, aud: AUD, sub: `u-${roles.join('-')}`, exp: nowS() + 300, realm_access: { roles }, ...claims }, SECRET);

let verifier: TokenVerifier;
let tickets: WsTicketService;
let decider: AccessDecider;
let revocations: Revocations;
let inc: jest.Mock;
let warn: jest.SpyInstance;

beforeEach(() => {
  verifier = new TokenVerifier(config);
  tickets = new WsTicketService(new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry())));
  inc = jest.fn();
  warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  revocations = new Revocations(config, new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry())));
  revocations.onModuleInit();
  decider = new AccessDecider(verifier, { authFailures: { inc } } as unknown as MetricsService, tickets, revocations);
});
afterEach(() => {
  revocations.onApplicationShutdown();
  jest.restoreAllMocks();
});

const refusal = (d: Decision) => (d.allow ? { allow: true } : { status: d.status, reason: d.reason });

describe('AccessDecider.decide', () => {
  it('a public route without a token is allowed, with one it is verified (a bad token is still refused)', async () => {
    expect(await decider.decide({}, PUBLIC_POLICY, '/p')).toEqual({ allow: true });
    expect(refusal(await decider.decide({ authorization: 'Bearer a.b.c' }, PUBLIC_POLICY, '/p'))).toEqual({ status: 401, reason: 'token_invalid' });
    const t = token([]);
    expect(await decider.decide({ authorization: `Bearer ${t}` }, PUBLIC_POLICY, '/p')).toMatchObject({ allow: true, token: t });
  });

  it('no token on a protected route: 401 token_missing, counted', async () => {
    expect(refusal(await decider.decide({}, AUTHENTICATED_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_missing' });
    expect(inc).toHaveBeenCalledWith({ reason: 'token_missing' });
  });

  it('a malformed header is 401, two different tokens 400', async () => {
    expect(refusal(await decider.decide({ authorization: 'Bearer ' }, AUTHENTICATED_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_invalid' });
    expect(refusal(await decider.decide({ authorization: `Bearer ${token()}`, queryTokens: [token(['ADMIN'])] }, AUTHENTICATED_POLICY, '/r'))).toEqual({
      status: 400,
      reason: 'ambiguous_token',
    });
  });

  it('allows a valid token with the principal and the token; refuses a missing role with 403 and the principal', async () => {
    const t = token(['REGULAR']);
    const ok = await decider.decide({ authorization: `Bearer ${t}` }, AGENTS_POLICY, '/api/agents');
    expect(ok).toMatchObject({ allow: true, token: t, principal: { subject: 'u-REGULAR' } });
    const no = await decider.decide({ authorization: `Bearer ${t}` }, ADMIN_POLICY, '/admin');
    expect(no).toMatchObject({ allow: false, status: 403, reason: 'insufficient_role', principal: { subject: 'u-REGULAR' } });
    expect(inc).toHaveBeenCalledWith({ reason: 'insufficient_role' });
    // One structured decision line naming who, where and why — never the token.
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toEqual({
      event: 'auth.decision',
      outcome: 'deny',
      reason: 'insufficient_role',
      status: 403,
      sub: 'u-REGULAR',
      azp: undefined,
      iss: ISS,
      route: '/admin',
      rule: 'admin',
    });
    expect(JSON.stringify(warn.mock.calls)).not.toContain(t);
  });

  it('a token verified before is decided synchronously, and its role still checked', async () => {
    const t = token(['REGULAR']);
    await decider.decide({ authorization: `Bearer ${t}` }, AGENTS_POLICY, '/api/agents');
    const again = decider.decide({ authorization: `Bearer ${t}` }, AGENTS_POLICY, '/api/agents');
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ allow: true, token: t });
    const denied = decider.decide({ authorization: `Bearer ${t}` }, ADMIN_POLICY, '/admin');
    expect(denied).not.toBeInstanceOf(Promise);
    expect(refusal(denied as Decision)).toEqual({ status: 403, reason: 'insufficient_role' });
  });

  it('a cached token that expired is refused 401 token_expired synchronously', async () => {
    const t0 = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(t0);
    const t = token(['REGULAR'], { exp: Math.floor(t0 / 1000) + 5 });
    await decider.decide({ authorization: `Bearer ${t}` }, AUTHENTICATED_POLICY, '/r');
    clock.mockReturnValue(t0 + 10_000);
    const d = decider.decide({ authorization: `Bearer ${t}` }, AUTHENTICATED_POLICY, '/r');
    expect(d).not.toBeInstanceOf(Promise);
    expect(refusal(d as Decision)).toEqual({ status: 401, reason: 'token_expired' });
  });

  it('errors that are not refusals are not turned into decisions', async () => {
    jest.spyOn(verifier, 'verify').mockRejectedValue(new Error('boom'));
    await expect(decider.decide({ authorization: `Bearer ${token()}` }, AUTHENTICATED_POLICY, '/r')).rejects.toThrow('boom');
  });
});

describe('AccessDecider.allowedNow (the fast path)', () => {
  it('allows only a fresh, verified token the policy allows', async () => {
    const t = token(['REGULAR']);
    expect(decider.allowedNow({ authorization: `Bearer ${t}` }, AGENTS_POLICY)).toBeUndefined();
    await decider.decide({ authorization: `Bearer ${t}` }, AGENTS_POLICY, '/api/agents');
    expect(decider.allowedNow({ authorization: `Bearer ${t}` }, AGENTS_POLICY)).toMatchObject({ allow: true, token: t, principal: { subject: 'u-REGULAR' } });
    expect(decider.allowedNow({ authorization: `Bearer ${t}` }, ADMIN_POLICY)).toBeUndefined();
    expect(decider.allowedNow({ authorization: `Bearer ${t}` }, PUBLIC_POLICY)).toBeUndefined();
    expect(decider.allowedNow({}, AUTHENTICATED_POLICY)).toBeUndefined();
    expect(decider.allowedNow({ authorization: 'Bearer ' }, AUTHENTICATED_POLICY)).toBeUndefined();
    expect(decider.allowedNow({ authorization: `Bearer ${t}`, wsTicket: { agentId: 'a', ticket: 'x', ambiguous: false } }, AGENTS_POLICY)).toBeUndefined();
    expect(inc).not.toHaveBeenCalled();
  });
});

describe('AccessDecider: a ws-ticket shown to /api/auth', () => {
  it('is decided as the token it stands for, and not consumed', async () => {
    const t = token(['REGULAR']);
    const { ticket } = await tickets.issue('agent-1', t);
    const d = await decider.decide({ wsTicket: { agentId: 'agent-1', ticket, ambiguous: false } }, AGENTS_POLICY, '/api/auth');
    expect(d).toMatchObject({ allow: true, token: t, principal: { subject: 'u-REGULAR' } });
    expect(await tickets.redeem(ticket, 'agent-1')).toBe(t);
  });

  it("the token's role is still checked", async () => {
    const { ticket } = await tickets.issue('agent-1', token([]));
    expect(refusal(await decider.decide({ wsTicket: { agentId: 'agent-1', ticket, ambiguous: false } }, AGENTS_POLICY, '/api/auth'))).toEqual({
      status: 403,
      reason: 'insufficient_role',
    });
  });

  it('a ticket for another agent, unknown or malformed: 401 token_invalid', async () => {
    const { ticket } = await tickets.issue('agent-1', token());
    for (const shown of [
      { agentId: 'agent-2', ticket },
      { agentId: 'agent-1', ticket: 'A'.repeat(43) },
      { agentId: 'agent-1', ticket: 'short' },
    ]) {
      expect(refusal(await decider.decide({ wsTicket: { ...shown, ambiguous: false } }, AGENTS_POLICY, '/api/auth'))).toEqual({
        status: 401,
        reason: 'token_invalid',
      });
    }
  });

  it('several tickets, or a ticket with another credential: 400 ambiguous_token', async () => {
    const t = token();
    const { ticket } = await tickets.issue('agent-1', t);
    const wsTicket = { agentId: 'agent-1', ticket, ambiguous: false };
    expect(refusal(await decider.decide({ wsTicket: { ...wsTicket, ambiguous: true } }, AGENTS_POLICY, '/api/auth'))).toEqual({
      status: 400,
      reason: 'ambiguous_token',
    });
    // Even the very token the ticket stands for.
    expect(refusal(await decider.decide({ wsTicket, authorization: `Bearer ${t}` }, AGENTS_POLICY, '/api/auth'))).toEqual({
      status: 400,
      reason: 'ambiguous_token',
    });
    expect(refusal(await decider.decide({ wsTicket, queryTokens: [t] }, AGENTS_POLICY, '/api/auth'))).toEqual({ status: 400, reason: 'ambiguous_token' });
    expect(refusal(await decider.decide({ wsTicket, authorization: 'Bearer ' }, AGENTS_POLICY, '/api/auth'))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('a store failure is not turned into a decision', async () => {
    jest.spyOn(tickets, 'check').mockRejectedValue(new Error('store down'));
    await expect(decider.decide({ wsTicket: { agentId: 'agent-1', ticket: 'A'.repeat(43), ambiguous: false } }, AGENTS_POLICY, '/api/auth')).rejects.toThrow(
      'store down',
    );
  });
});

describe('AccessDecider and revocations (back-channel logout)', () => {
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('a logged-out session (sid) is refused 401 token_revoked, cached or not, and never by the fast path; another session of the user is not', async () => {
    const mine = token(['REGULAR'], { sid: 'session-1', iat: nowS() - 10 });
    const other = token(['REGULAR'], { sid: 'session-2', iat: nowS() - 10 });
    expect(await decider.decide(bearer(mine), AUTHENTICATED_POLICY, '/r')).toMatchObject({ allow: true });
    expect(await decider.decide(bearer(other), AUTHENTICATED_POLICY, '/r')).toMatchObject({ allow: true });
    expect(decider.allowedNow(bearer(mine), AUTHENTICATED_POLICY)).toMatchObject({ allow: true });
    await revocations.revoke({ issuer: ISS, sid: 'session-1', sub: 'u-REGULAR' });
    expect(refusal(await decider.decide(bearer(mine), AUTHENTICATED_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_revoked' });
    expect(inc).toHaveBeenCalledWith({ reason: 'token_revoked' });
    expect(decider.allowedNow(bearer(mine), AUTHENTICATED_POLICY)).toBeUndefined();
    expect(await decider.decide(bearer(other), AUTHENTICATED_POLICY, '/r')).toMatchObject({ allow: true });
    expect(decider.allowedNow(bearer(other), AUTHENTICATED_POLICY)).toMatchObject({ allow: true });
  });

  it('a user logged out (sub alone) loses the tokens issued until then, not those issued after', async () => {
    const before = token(['REGULAR'], { iat: nowS() - 60 });
    const after = token(['REGULAR'], { iat: nowS() + 5, jti: 'later' });
    await revocations.revoke({ issuer: ISS, sub: 'u-REGULAR', before: nowS() - 30 });
    expect(refusal(await decider.decide(bearer(before), AUTHENTICATED_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_revoked' });
    expect(await decider.decide(bearer(after), AUTHENTICATED_POLICY, '/r')).toMatchObject({ allow: true });
    // The same user at another issuer is someone else.
    expect(revocations.isRevoked({ issuer: 'https://elsewhere', subject: 'u-REGULAR', claims: { iat: 1 } } as never)).toBe(false);
  });
});

describe('AccessDecider: the credential loaders feed the one chain', () => {
  /** A decider whose ModuleRef finds these loaders (as the session and Trino Gateway admin modules register them). */
  function withLoaders(loaders: { session?: SessionCredentials; breakGlass?: BreakGlassAuthenticator }) {
    const moduleRef = {
      // As Nest's ModuleRef: a provider of another module is found only with strict: false.
      get: (t: symbol, opts?: { strict?: boolean }) => {
        if (opts?.strict !== false) throw new Error('not in this module');
        const found = t === SESSION_CREDENTIALS ? loaders.session : t === BREAK_GLASS_AUTHENTICATOR ? loaders.breakGlass : undefined;
        if (!found) throw new Error('not registered');
        return found;
      },
    } as unknown as ModuleRef;
    return new AccessDecider(verifier, { authFailures: { inc } } as unknown as MetricsService, tickets, revocations, moduleRef);
  }

  it('a browser session: its token is decided like a bearer one (roles, revocation), and an ended session is refused 401', async () => {
    const sessions = new Map([
      ['s-regular', token(['REGULAR'], { sid: 'kc-1' })],
      ['s-viewer', token([])],
      ['s-admin', token(['ADMIN'])],
    ]);
    const d = withLoaders({ session: { accessToken: (id) => Promise.resolve(sessions.get(id)) } });
    expect(await d.decide({ sessionId: 's-regular' }, AGENTS_POLICY, '/r')).toMatchObject({ allow: true, via: 'session', principal: { subject: 'u-REGULAR' } });
    expect(await d.decide({ sessionId: 's-viewer' }, AGENTS_POLICY, '/r')).toMatchObject({ allow: false, status: 403, reason: 'insufficient_role', via: 'session' });
    expect(await d.decide({ sessionId: 's-gone' }, AGENTS_POLICY, '/r')).toMatchObject({ allow: false, status: 401, reason: 'token_missing', via: 'session' });
    await revocations.revoke({ issuer: ISS, sid: 'kc-1', sub: 'u-REGULAR' });
    expect(await d.decide({ sessionId: 's-regular' }, AGENTS_POLICY, '/r')).toMatchObject({ allow: false, status: 401, reason: 'token_revoked', via: 'session' });
    // An Authorization header wins over the cookie; the fast path never loads a session.
    expect(await d.decide({ sessionId: 's-regular', authorization: 'Bearer a.b.c' }, AUTHENTICATED_POLICY, '/r')).toMatchObject({ allow: false, via: 'bearer' });
    // An empty Authorization header is none: the cookie counts.
    expect(await d.decide({ sessionId: 's-admin', authorization: '' }, AGENTS_POLICY, '/r')).toMatchObject({ allow: true, via: 'session' });
    expect(d.allowedNow({ sessionId: 's-viewer' }, AUTHENTICATED_POLICY)).toBeUndefined();
  });

  it('break-glass: HTTP Basic goes to the registered authenticator only where the route allows it; its refusal is the answer', async () => {
    const authenticate = jest.fn((req: { headers: { authorization?: string } }) =>
      req.headers.authorization === 'Basic b2s6b2s='
        ? Promise.resolve()
        : Promise.reject(new ProblemException(401, 'token_invalid', 'break-glass credentials rejected')),
    );
    const d = withLoaders({ breakGlass: { authenticate } as unknown as BreakGlassAuthenticator });
    const basic = (value: string, scope?: string) => {
      const req = { headers: { authorization: value } } as unknown as FastifyRequest;
      return { authorization: value, ...(scope ? { breakGlass: { req, scope } } : {}) };
    };
    expect(await d.decide(basic('Basic b2s6b2s=', 'gw'), ADMIN_POLICY, '/r')).toEqual({ allow: true, via: 'break-glass' });
    expect(await d.decide(basic('Basic bm86bm8=', 'gw'), ADMIN_POLICY, '/r')).toMatchObject({
      allow: false,
      status: 401,
      reason: 'token_invalid',
      via: 'break-glass',
    });
    // Without the route's consent, Basic is no credential at all.
    expect(refusal(await d.decide(basic('Basic b2s6b2s='), ADMIN_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_missing' });
    // Only a header that IS Basic: a Bearer header that merely contains the word is a (malformed) bearer token.
    expect(refusal(await d.decide(basic('Bearer Basic b2s6b2s=', 'gw'), ADMIN_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_invalid' });
    expect(authenticate).toHaveBeenCalledTimes(2);
    // No authenticator registered: as without a token.
    expect(refusal(await withLoaders({}).decide(basic('Basic b2s6b2s=', 'gw'), ADMIN_POLICY, '/r'))).toEqual({ status: 401, reason: 'token_missing' });
  });

  it('a ws-ticket is checked for /api/auth (still usable after) and redeemed for the upgrade (single use)', async () => {
    const { ticket } = await tickets.issue('agent-1', token());
    const shown = { agentId: 'agent-1', ticket, ambiguous: false };
    expect(await decider.decide({ wsTicket: shown }, AGENTS_POLICY, '/api/auth')).toMatchObject({ allow: true, via: 'ws-ticket' });
    expect(await decider.decide({ wsTicket: { ...shown, redeem: true } }, AGENTS_POLICY, '/api/agents/:id/react')).toMatchObject({ allow: true, via: 'ws-ticket' });
    expect(refusal(await decider.decide({ wsTicket: { ...shown, redeem: true } }, AGENTS_POLICY, '/api/agents/:id/react'))).toEqual({
      status: 401,
      reason: 'token_invalid',
    });
  });
});
