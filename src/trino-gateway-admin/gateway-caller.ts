import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AuditActor } from '../audit/audit-log.service';
import { getAuthContext } from '../auth/auth-context';
import { getExchangedToken } from '../token-exchange/exchange-context';
import { getBreakGlassContext } from './break-glass/break-glass-context';
import type { GatewayCredential } from './trino-gateway.client';

/** Who is calling the gateway admin API and with which credential the BFF will call the gateway. */
export interface GatewayCaller {
  actor: AuditActor;
  credential: GatewayCredential;
  requestId: string;
}

/**
 * The caller of a gateway admin route: a bearer caller with the token exchanged for the
 * gateway's audience (by @ExchangeTokenFor; exchanged when the client sends, after validation), or a break-glass user (then the BFF uses
 * TRINO_GATEWAY_BASIC_AUTH). Anything else is a wiring error and fails closed.
 */
export const CurrentGatewayCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): GatewayCaller => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  const requestId = String(req.id);
  const breakGlass = getBreakGlassContext(req);
  if (breakGlass) return { actor: { via: 'break-glass', username: breakGlass.user }, credential: { kind: 'break-glass' }, requestId };
  const auth = getAuthContext(req);
  const exchanged = getExchangedToken(req);
  if (!auth || !exchanged) throw new Error('gateway admin route reached without an authenticated caller and an exchanged token');
  return {
    actor: { via: 'bearer', subject: auth.principal.subject, username: auth.principal.username },
    credential: { kind: 'bearer', token: exchanged },
    requestId,
  };
});
