import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { AccessDecider, type Decision, type Refusal } from './access-decider.service';
import { setAuthContext } from './auth-context';
import type { Presented } from './credentials';
import { RoutePolicyResolver, type ResolvedRoute } from './route-policy.resolver';

/** Turns a denial into the problem the client sees (401 with WWW-Authenticate, 403, 400, 503). */
export function denialProblem(decision: Refusal): ProblemException {
  const headers = decision.status === 401 ? { 'www-authenticate': 'Bearer realm="platform-bff"' } : undefined;
  return new ProblemException(decision.status, decision.reason, decision.detail, undefined, headers);
}

/**
 * What an HTTP route's request presents to the identity chain: the Authorization header, and on a
 * route marked @AllowBreakGlass the request for the break-glass loader. The guard and the hot
 * routes' fast path both read it here, so they decide on the same credentials.
 */
export function routePresented(req: FastifyRequest, route: Extract<ResolvedRoute, { kind: 'policy' }>): Presented {
  return { authorization: req.headers.authorization, ...(route.breakGlass ? { breakGlass: { req, scope: route.breakGlass } } : {}) };
}

/**
 * The global guard: every HTTP route is authenticated and authorized here, by the policy its
 * decorators declare (read by the RoutePolicyResolver), through the identity chain (AccessDecider).
 * A route that declares nothing is refused (and the app does not boot with one: see RouteInventory).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly routes: RoutePolicyResolver,
    private readonly decider: AccessDecider,
  ) {}

  canActivate(ctx: ExecutionContext): boolean | Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const r = this.routes.resolve(ctx.getHandler(), ctx.getClass());
    if (r.kind === 'self') return true;
    if (r.kind === 'undeclared') throw new ProblemException(403, 'insufficient_role', 'this route declares no access policy');
    // Public routes read no credential.
    if (r.policy.kind === 'public') return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    const decision = this.decider.decide(routePresented(req, r), r.policy, req.routeOptions?.url ?? 'unknown');
    // A token seen before is decided synchronously: no promise on the hot path.
    return decision instanceof Promise ? decision.then((d) => admit(req, d)) : admit(req, decision);
  }
}

function admit(req: FastifyRequest, decision: Decision): true {
  if (!decision.allow) throw denialProblem(decision);
  // A break-glass user is named by the break-glass context its loader set; a token caller by the auth context.
  if (decision.principal) setAuthContext(req, { principal: decision.principal, token: decision.token });
  return true;
}
