import { Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { WsTicketService } from './ws-ticket.service';
import { MetricsService } from '../common/metrics.service';
import { ProblemException } from '../common/problem';
import { authorize, type AccessPolicy, type AuthzOutcome } from './access-policy';
import { AuthFailure } from './auth-failure';
import { credentialOf, SESSION_CREDENTIALS, type CredentialKind, type Presented, type SessionCredentials } from './credentials';
import { BREAK_GLASS_AUTHENTICATOR, type BreakGlassAuthenticator } from './decorators';
import type { Principal } from './principal';
import { Revocations } from './revocation.service';
import { TokenVerifier } from './token-verifier.service';

/** A caller proven by a token (sent as it is, or loaded from a ws-ticket or a browser session). */
export type Allowed = { allow: true; principal: Principal; token: string; via: Exclude<CredentialKind, 'break-glass'> };
/** A typed refusal: the status, reason and detail the client is answered with (and the credential kind, when one was presented). */
export type Refusal = { allow: false; status: number; reason: AuthFailure['reason']; detail: string; principal?: Principal; via?: CredentialKind };
export type Decision =
  | Allowed
  /** A public route without a credential, or a break-glass user (who is no token principal: the break-glass context names them). */
  | { allow: true; principal?: undefined; token?: undefined; via?: 'break-glass' }
  | Refusal;

/**
 * The one identity chain of the BFF. Every entrance — the guard (HTTP routes), /api/validate,
 * /api/auth, the WebSocket upgrade, the MLflow proxy — hands decide() what the request presents;
 * the chain takes ONE credential from it (credentialOf), loads what it stands for (a ws-ticket's
 * token, a browser session's token, break-glass), then verify → revocation → policy, and answers
 * one Principal or a typed refusal. The fast path (allowedNow) runs the same steps on what needs no
 * I/O. Every denial is one structured log line (sub, azp, iss, route, rule, reason) and a metric —
 * never the token.
 */
@Injectable()
export class AccessDecider {
  private readonly log = new Logger('AuthDecision');
  private loaders?: { session?: SessionCredentials; breakGlass?: BreakGlassAuthenticator };

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly metrics: MetricsService,
    /** The ws-ticket loader: checks a ticket for /api/auth, redeems it for the upgrade. */
    private readonly tickets: WsTicketService,
    /** Logged-out sessions and users (back-channel logout), refused like an invalid token. */
    private readonly revocations: Revocations,
    /** Finds the loaders the feature modules register (browser sessions, break-glass). */
    private readonly moduleRef?: ModuleRef,
  ) {}

  /**
   * Decides a request. A token verified before is decided synchronously (no await on the hot
   * path); anything to load or verify first returns a promise. Callers may always `await` the result.
   */
  decide(presented: Presented, policy: AccessPolicy, route: string): Decision | Promise<Decision> {
    let credential;
    try {
      credential = credentialOf(presented);
    } catch (err) {
      return this.refused(err, route, policy);
    }
    switch (credential.via) {
      case 'none':
        if (policy.kind === 'public') return { allow: true };
        return this.deny(new AuthFailure(401, 'token_missing', 'a bearer token is required'), route, policy);
      case 'bearer':
        return this.decideToken(credential.token, 'bearer', policy, route);
      case 'ws-ticket': {
        const { ticket, agentId, redeem } = credential.ticket;
        return this.loaded(redeem ? this.tickets.redeem(ticket, agentId) : this.tickets.check(ticket, agentId), 'ws-ticket', policy, route);
      }
      case 'session': {
        const sessions = this.loader().session;
        const token = sessions ? sessions.accessToken(credential.sessionId) : Promise.resolve(undefined);
        return this.loaded(token, 'session', policy, route);
      }
      case 'break-glass':
        return this.breakGlass(credential.req, credential.scope, route, policy);
    }
  }

  /**
   * The fast path's question: is this request allowed right now, from a bearer token already
   * verified and still fresh? The chain's own steps (credentialOf, revocation, authorize) without
   * any I/O: the allow decision, or undefined for anything else (no token, a malformed or
   * ambiguous one, a ticket, a session, break-glass, a token not yet verified, a denial). It logs
   * and counts nothing and changes nothing, so a caller that gets undefined hands the request to
   * decide(), which then decides — and logs — exactly once.
   */
  allowedNow(presented: Presented, policy: AccessPolicy): Allowed | undefined {
    if (policy.kind === 'public') return undefined;
    let credential;
    try {
      credential = credentialOf(presented);
    } catch {
      return undefined;
    }
    if (credential.via !== 'bearer') return undefined;
    const principal = this.verifier.peek(credential.token);
    if (!principal || this.judge(principal, policy) !== undefined) return undefined;
    return { allow: true, principal, token: credential.token, via: 'bearer' };
  }

  /**
   * Whether a caller the chain admitted has been revoked since: the check of long-lived sessions (the
   * agent WebSocket closes its sessions on a revocation, and asks `now` before each turn, which also
   * asks the StateStore for a revocation this replica has not heard of yet).
   */
  revokedSince(principal: Principal): boolean {
    return this.revocations.isRevoked(principal);
  }

  revokedSinceNow(principal: Principal): Promise<boolean> {
    return this.revocations.isRevokedNow(principal);
  }

  /** Revocation, then the policy: undefined when the principal may pass, else why not. */
  private judge(principal: Principal, policy: AccessPolicy): AuthFailure | undefined {
    if (this.revocations.isRevoked(principal)) return new AuthFailure(401, 'token_revoked', 'the session of this token was logged out');
    const outcome: AuthzOutcome = authorize(principal, policy);
    return outcome.allow ? undefined : new AuthFailure(outcome.status, outcome.reason, outcome.detail);
  }

  /** A token verified before is decided synchronously; a new one is verified first. */
  private decideToken(token: string, via: Allowed['via'], policy: AccessPolicy, route: string): Decision | Promise<Decision> {
    let cached: Principal | undefined;
    try {
      cached = this.verifier.cached(token);
    } catch (err) {
      return this.refused(err, route, policy, via);
    }
    if (cached) return this.authorized(cached, token, via, policy, route);
    return this.verifier.verify(token).then(
      (principal) => this.authorized(principal, token, via, policy, route),
      (err: unknown) => this.refused(err, route, policy, via),
    );
  }

  /** A credential that stands for a token (a ws-ticket, a browser session): the token, then decided like any other. */
  private async loaded(load: Promise<string | undefined>, via: 'ws-ticket' | 'session', policy: AccessPolicy, route: string): Promise<Decision> {
    let token: string | undefined;
    try {
      token = await load;
    } catch (err) {
      return this.refused(err, route, policy, via);
    }
    if (token === undefined) return this.deny(new AuthFailure(401, 'token_missing', 'the browser session has ended'), route, policy, undefined, via);
    return this.decideToken(token, via, policy, route);
  }

  /**
   * Break-glass: the registered authenticator checks the HTTP Basic credentials (and audits and
   * counts each attempt itself); without one, Basic is no credential (401 as without a token).
   */
  private async breakGlass(req: FastifyRequest, scope: string, route: string, policy: AccessPolicy): Promise<Decision> {
    const authenticator = this.loader().breakGlass;
    if (!authenticator) return this.deny(new AuthFailure(401, 'token_missing', 'a bearer token is required'), route, policy, undefined, 'break-glass');
    try {
      await authenticator.authenticate(req, scope, route);
    } catch (err) {
      if (!(err instanceof ProblemException)) throw err;
      return { allow: false, status: err.getStatus(), reason: err.reason, detail: err.detail ?? '', via: 'break-glass' };
    }
    return { allow: true, via: 'break-glass' };
  }

  /** The loaders feature modules registered (looked up once, lazily: they are optional). */
  private loader(): NonNullable<AccessDecider['loaders']> {
    if (!this.loaders) {
      const find = <T>(token: symbol): T | undefined => {
        try {
          return this.moduleRef?.get<T>(token, { strict: false });
        } catch {
          return undefined;
        }
      };
      this.loaders = { session: find<SessionCredentials>(SESSION_CREDENTIALS), breakGlass: find<BreakGlassAuthenticator>(BREAK_GLASS_AUTHENTICATOR) };
    }
    return this.loaders;
  }

  private refused(err: unknown, route: string, policy: AccessPolicy, via?: CredentialKind): Decision {
    if (!(err instanceof AuthFailure)) throw err;
    // A public route does not need the token: a bad one is still refused, not silently ignored.
    return this.deny(err, route, policy, undefined, via);
  }

  private authorized(principal: Principal, token: string, via: Allowed['via'], policy: AccessPolicy, route: string): Decision {
    const failure = this.judge(principal, policy);
    if (failure) return this.deny(failure, route, policy, principal, via);
    return { allow: true, principal, token, via };
  }

  private deny(failure: AuthFailure, route: string, policy: AccessPolicy, principal?: Principal, via?: CredentialKind): Refusal {
    this.metrics.authFailures.inc({ reason: failure.reason });
    this.log.warn({
      event: 'auth.decision',
      outcome: 'deny',
      reason: failure.reason,
      status: failure.status,
      sub: principal?.subject,
      azp: principal?.clientId,
      iss: principal?.issuer,
      route,
      rule: policy.rule,
    });
    return { allow: false, status: failure.status, reason: failure.reason, detail: failure.detail, principal, ...(via ? { via } : {}) };
  }
}
