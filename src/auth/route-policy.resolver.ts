import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AccessPolicy } from './access-policy';
import { BreakGlassScope, RouteAudience, RoutePolicy, SelfAuthorizing } from './decorators';

/** What a route demands, from everything its decorators declare (see RoutePolicyResolver). */
export type ResolvedRoute =
  /** The policy the guard applies (an @Audience merged in), and the break-glass scope when Basic may stand in. */
  | { kind: 'policy'; policy: AccessPolicy; breakGlass?: string }
  /** An ext-authz endpoint: it decides by the gateway route table itself. */
  | { kind: 'self'; table: string }
  /** Nothing declared: refused (and the app does not boot with one). */
  | { kind: 'undeclared' };

type Handler = ReturnType<ExecutionContext['getHandler']>;
type ControllerClass = ReturnType<ExecutionContext['getClass']>;

/**
 * The one reading of a route's access metadata (@Public, @Authenticated/@Roles, @Audience,
 * @AllowBreakGlass, @ExtAuthz) into what the route demands. The global guard, the route inventory
 * and the hot routes' fast path all ask this resolver, so none of them can apply a policy the others
 * do not (an @Audience the fast path ignored answered 403 once, then 200).
 */
@Injectable()
export class RoutePolicyResolver {
  private readonly resolved = new WeakMap<Handler, ResolvedRoute>();

  constructor(private readonly reflector: Reflector) {}

  /** The route of this handler on this controller (method metadata overrides the controller's). */
  resolve(handler: Handler, controller: ControllerClass): ResolvedRoute {
    const cached = this.resolved.get(handler);
    if (cached) return cached;
    const targets = [handler, controller];
    const table = this.reflector.getAllAndOverride(SelfAuthorizing, targets);
    let r: ResolvedRoute;
    if (table) r = { kind: 'self', table };
    else {
      const policy = this.reflector.getAllAndOverride(RoutePolicy, targets);
      const audience = this.reflector.getAllAndOverride(RouteAudience, targets);
      const breakGlass = this.reflector.getAllAndOverride(BreakGlassScope, targets);
      if (!policy) r = { kind: 'undeclared' };
      else if (audience && policy.kind === 'authenticated') r = { kind: 'policy', policy: { ...policy, audience }, breakGlass };
      else r = { kind: 'policy', policy, breakGlass };
    }
    this.resolved.set(handler, r);
    return r;
  }
}
