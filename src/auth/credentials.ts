import type { FastifyRequest } from 'fastify';
import { AuthFailure } from './auth-failure';
import { extractToken, type PresentedWsTicket, type TokenSources } from './token-source';

/**
 * What a request presents, as its entrance read it. The identity chain (AccessDecider.decide)
 * turns it into ONE credential (credentialOf), loads what that credential stands for, then decides:
 * verify → revocation → policy. Every entrance fills in only what it accepts:
 * - the guard: the Authorization header, and `breakGlass` on routes marked @AllowBreakGlass;
 * - /api/validate and /api/auth: header, `access-token` query values, the body token, a ws-ticket shown for checking;
 * - the WebSocket upgrade: header, `access-token`, and the ticket to redeem;
 * - the MLflow proxy: header, else the browser session's id.
 */
export interface Presented extends TokenSources {
  /** The id the browser session cookie names (only entrances that accept browser sessions set it). */
  sessionId?: string;
  /** On a route marked @AllowBreakGlass: the request, handed to the break-glass loader when it carries HTTP Basic. */
  breakGlass?: { req: FastifyRequest; scope: string };
}

/** How the caller proved who they are. */
export type CredentialKind = 'bearer' | 'ws-ticket' | 'session' | 'break-glass';

/** The one credential a request presents (none: no credential at all). */
export type Credential =
  | { via: 'none' }
  | { via: 'bearer'; token: string }
  | { via: 'ws-ticket'; ticket: PresentedWsTicket }
  | { via: 'session'; sessionId: string }
  | { via: 'break-glass'; req: FastifyRequest; scope: string };

/** The loader of browser-session credentials: the session's current access token, undefined when the session is gone. */
export interface SessionCredentials {
  accessToken(sessionId: string): Promise<string | undefined>;
}

/** Injection token of the session credential loader (registered by the module that owns browser sessions). */
export const SESSION_CREDENTIALS = Symbol('SESSION_CREDENTIALS');

const BASIC = /^Basic\s/i;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * The one credential of a request, in this order: HTTP Basic where break-glass is allowed; a
 * ws-ticket (then no other token may be presented: 400 ambiguous_token; a malformed Bearer header 401); the browser session when no
 * Authorization header is sent (a header always wins over the cookie); else the single token of
 * the token sources (extractToken: a malformed Bearer header is 401, two different tokens 400).
 * Throws the AuthFailure to refuse with.
 */
export function credentialOf(p: Presented): Credential {
  const authorization = first(p.authorization);
  if (p.breakGlass && BASIC.test(authorization ?? '')) return { via: 'break-glass', ...p.breakGlass };
  if (p.wsTicket) {
    const { wsTicket, ...others } = p;
    if (wsTicket.ambiguous || extractToken(others) !== undefined) {
      throw new AuthFailure(400, 'ambiguous_token', 'the request carries a ticket and another credential; send one');
    }
    return { via: 'ws-ticket', ticket: wsTicket };
  }
  if (p.sessionId && (authorization === undefined || authorization === '')) return { via: 'session', sessionId: p.sessionId };
  const token = extractToken(p);
  return token === undefined ? { via: 'none' } : { via: 'bearer', token };
}
