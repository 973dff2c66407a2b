import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { AccessDecider, type Decision } from './access-decider.service';
import { setAuthContext } from './auth-context';
import { BREAK_GLASS_AUTHENTICATOR, type BreakGlassAuthenticator } from './decorators';
import { RoutePolicyResolver } from './route-policy.resolver';

const BASIC = /^Basic\s/i;

/** Turns a denial into the problem the client sees (401 with WWW-Authenticate, 403, 400, 503). */
export function denialProblem(decision: Extract<Decision, { allow: false }>): ProblemException {
  const headers = decision.status === 401 ? { 'www-authenticate': 'Bearer realm="platform-bff"' } : undefined;
  return new ProblemException(decision.status, decision.reason, decision.detail, undefined, headers);
}

/**
 * The global guard: every HTTP route is authenticated and authorized here, by the policy its
 * decorators declare (read by the RoutePolicyResolver), through the shared AccessDecider. A route that declares nothing is refused
 * (and the app does not boot with one: see RouteInventory).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private breakGlass?: BreakGlassAuthenticator | null;

  constructor(
    private readonly routes: RoutePolicyResolver,
    private readonly decider: AccessDecider,
    private readonly moduleRef: ModuleRef,
  ) {}

  canActivate(ctx: ExecutionContext): boolean | Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const r = this.routes.resolve(ctx.getHandler(), ctx.getClass());
    if (r.kind === 'self') return true;
    if (r.kind === 'undeclared') throw new ProblemException(403, 'insufficient_role', 'this route declares no access policy');
    if (r.policy.kind === 'public') return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    const route = req.routeOptions?.url ?? 'unknown';
    if (r.breakGlass && BASIC.test(firstHeader(req.headers.authorization))) {
      const authenticator = this.breakGlassAuthenticator();
      if (!authenticator)
        throw new ProblemException(401, 'token_missing', 'a bearer token is required', undefined, { 'www-authenticate': 'Bearer realm="platform-bff"' });
      return authenticator.authenticate(req, r.breakGlass, route).then(() => true);
    }
    const decision = this.decider.decide({ authorization: req.headers.authorization }, r.policy, route);
    // A token seen before is decided synchronously: no promise on the hot path.
    return decision instanceof Promise ? decision.then((d) => this.admit(req, d)) : this.admit(req, decision);
  }

  private admit(req: FastifyRequest, decision: Decision): true {
    if (!decision.allow) throw denialProblem(decision);
    setAuthContext(req, { principal: decision.principal!, token: decision.token! });
    return true;
  }

  /** The break-glass provider, when a module registered one (looked up once, lazily). */
  private breakGlassAuthenticator(): BreakGlassAuthenticator | undefined {
    if (this.breakGlass === undefined) {
      try {
        this.breakGlass = this.moduleRef.get<BreakGlassAuthenticator>(BREAK_GLASS_AUTHENTICATOR, { strict: false });
      } catch {
        this.breakGlass = null;
      }
    }
    return this.breakGlass ?? undefined;
  }
}

function firstHeader(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}
