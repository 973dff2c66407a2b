import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AuditActor } from '../audit/audit-log.service';
import { getAuthContext } from '../auth/auth-context';
import { getBreakGlassContext } from '../auth/break-glass-context';
import type { Principal } from '../auth/principal';
import { getExchangedToken, type LazyExchangedToken } from './exchange-context';

/**
 * The caller of a route that forwards to a downstream of its own audience (ML-Agent, the Trino Gateway's admin
 * API), and what the BFF sends there on their behalf. One type for every such route:
 * - `bearer`: the verified caller and their token for the route's audience, as @ExchangeTokenFor decides it —
 *   exchanged when the upstream client first asks for it, as it sends (after validation); never the caller's own
 *   token unless the module's configuration forwards it (ML_AGENT_TOKEN_MODE=forward).
 * - `break-glass`: a user authenticated with HTTP Basic while the identity provider is unreachable, on a route that
 *   allows it (@AllowBreakGlass); the module then sends its own break-glass credential.
 */
export type UpstreamCaller = BearerCaller | BreakGlassCaller;

export interface BearerCaller {
  via: 'bearer';
  principal: Principal;
  /** Never logged, never returned. */
  token: LazyExchangedToken;
  requestId: string;
}

export interface BreakGlassCaller {
  via: 'break-glass';
  username: string;
  requestId: string;
}

/** Who the caller is, as the audit log records them. */
export function auditActor(caller: UpstreamCaller): AuditActor {
  return caller.via === 'bearer'
    ? { via: 'bearer', subject: caller.principal.subject, username: caller.principal.username }
    : { via: 'break-glass', username: caller.username };
}

type Accepts = 'bearer' | 'bearer-or-break-glass';

const callerParam = createParamDecorator((accepts: Accepts, ctx: ExecutionContext): UpstreamCaller => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  const requestId = String(req.id);
  const breakGlass = accepts === 'bearer-or-break-glass' ? getBreakGlassContext(req) : undefined;
  if (breakGlass) return { via: 'break-glass', username: breakGlass.user, requestId };
  const auth = getAuthContext(req);
  const token = getExchangedToken(req);
  if (!auth || !token) throw new Error('upstream route reached without an authenticated caller and a token for its audience (@ExchangeTokenFor)');
  return { via: 'bearer', principal: auth.principal, token, requestId };
});

/**
 * The route's caller: a BearerCaller, or with `bearer-or-break-glass` (routes that also allow break-glass) an
 * UpstreamCaller. A wiring error (no authenticated caller, no @ExchangeTokenFor on the route) fails closed.
 */
export const CurrentCaller = (accepts: Accepts = 'bearer'): ParameterDecorator => callerParam(accepts);
