import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { getAuthContext } from '../auth/auth-context';
import type { Principal } from '../auth/principal';

/**
 * The verified caller of an ML-Agent route: who they are, the token they authenticated with (the
 * subject token of the exchange for ML_AGENT_AUDIENCE; forwarded as it is only in
 * ML_AGENT_TOKEN_MODE=forward) and the request id ML-Agent calls are traced by.
 */
export interface MlAgentCaller {
  principal: Principal;
  /** The caller's own token. Never logged, never returned; see MlAgentService.bearerFor. */
  subjectToken: string;
  requestId: string;
}

export const CurrentMlAgentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): MlAgentCaller => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  const auth = getAuthContext(req);
  if (!auth) throw new Error('ML-Agent route reached without an authenticated caller');
  return { principal: auth.principal, subjectToken: auth.token, requestId: String(req.id) };
});
