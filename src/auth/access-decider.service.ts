import { Injectable, Logger } from '@nestjs/common';
import { WsTicketService } from './ws-ticket.service';
import { MetricsService } from '../common/metrics.service';
import { authorize, type AccessPolicy } from './access-policy';
import { AuthFailure } from './auth-failure';
import type { Principal } from './principal';
import { Revocations } from './revocation.service';
import { extractToken, type TokenSources } from './token-source';
import { TokenVerifier } from './token-verifier.service';

export type Decision =
  { allow: true; principal?: Principal; token?: string } | { allow: false; status: number; reason: AuthFailure['reason']; detail: string; principal?: Principal };

/**
 * The one decision function of the BFF: identify the caller (token source → verification),
 * then decide (policy). The in-process guard, /api/validate, /api/auth and the WebSocket
 * upgrade all call decide(), so they can never disagree. Every denial is one structured
 * log line (sub, azp, iss, route, rule, reason) and a metric — never the token.
 */
@Injectable()
export class AccessDecider {
  private readonly log = new Logger('AuthDecision');

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly metrics: MetricsService,
    /** ws-tickets shown to /api/auth: checked, never consumed here (the upgrade redeems them). */
    private readonly tickets: WsTicketService,
    /** Logged-out sessions and users (back-channel logout), refused like an invalid token. */
    private readonly revocations: Revocations,
  ) {}

  /**
   * Decides a request. A token verified before is decided synchronously (no await on the hot
   * path); a new one is verified first. Callers may always `await` the result.
   */
  decide(sources: TokenSources, policy: AccessPolicy, route: string): Decision | Promise<Decision> {
    if (sources.wsTicket) return this.decideTicket(sources, policy, route);
    let token: string | undefined;
    try {
      token = extractToken(sources);
    } catch (err) {
      return this.deny(err as AuthFailure, route, policy);
    }
    if (token === undefined) {
      if (policy.kind === 'public') return { allow: true };
      return this.deny(new AuthFailure(401, 'token_missing', 'a bearer token is required'), route, policy);
    }
    let cached: Principal | undefined;
    try {
      cached = this.verifier.cached(token);
    } catch (err) {
      return this.refused(err, route, policy);
    }
    if (cached) return this.authorized(cached, token, policy, route);
    const presented = token;
    return this.verifier.verify(presented).then(
      (principal) => this.authorized(principal, presented, policy, route),
      (err: unknown) => this.refused(err, route, policy),
    );
  }

  /**
   * The fast path's question: is this request allowed right now, from a token already verified
   * and still fresh? Returns the allow decision, or undefined for anything else (no token, a
   * malformed or ambiguous one, a token not yet verified, a denial). It logs and counts nothing
   * and changes nothing, so a caller that gets undefined hands the request to decide(), which
   * then decides — and logs — exactly once.
   */
  allowedNow(sources: TokenSources, policy: AccessPolicy): Extract<Decision, { allow: true }> | undefined {
    let token: string | undefined;
    try {
      token = extractToken(sources);
    } catch {
      return undefined;
    }
    if (token === undefined || policy.kind === 'public' || sources.wsTicket) return undefined;
    const principal = this.verifier.peek(token);
    if (!principal || this.revocations.isRevoked(principal) || !authorize(principal, policy).allow) return undefined;
    return { allow: true, principal, token };
  }

  /**
   * A ws-ticket (only /api/auth shows one, for the agent upgrade): the only credential of the
   * request, checked without being consumed, and then the token it stands for is decided like any
   * other — so the answer, and the principal's identity headers, are those of that token.
   */
  private async decideTicket(sources: TokenSources, policy: AccessPolicy, route: string): Promise<Decision> {
    const { wsTicket, ...others } = sources;
    let other: string | undefined;
    try {
      other = extractToken(others);
    } catch (err) {
      return this.deny(err as AuthFailure, route, policy);
    }
    if (wsTicket!.ambiguous || other !== undefined) {
      return this.deny(new AuthFailure(400, 'ambiguous_token', 'the request carries a ticket and another credential; send one'), route, policy);
    }
    let token: string;
    try {
      token = await this.tickets.check(wsTicket!.ticket, wsTicket!.agentId);
    } catch (err) {
      return this.refused(err, route, policy);
    }
    return this.decide({ queryTokens: [token] }, policy, route);
  }

  private refused(err: unknown, route: string, policy: AccessPolicy): Decision {
    if (!(err instanceof AuthFailure)) throw err;
    // A public route does not need the token: a bad one is still refused, not silently ignored.
    return this.deny(err, route, policy);
  }

  private authorized(principal: Principal, token: string, policy: AccessPolicy, route: string): Decision {
    if (this.revocations.isRevoked(principal)) {
      return this.deny(new AuthFailure(401, 'token_revoked', 'the session of this token was logged out'), route, policy, principal);
    }
    const outcome = authorize(principal, policy);
    if (!outcome.allow) {
      return this.deny(new AuthFailure(outcome.status, outcome.reason, outcome.detail), route, policy, principal);
    }
    return { allow: true, principal, token };
  }

  private deny(failure: AuthFailure, route: string, policy: AccessPolicy, principal?: Principal): Decision {
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
    return { allow: false, status: failure.status, reason: failure.reason, detail: failure.detail, principal };
  }
}
