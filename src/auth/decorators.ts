import { applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiSecurity } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiProblems } from '../common/api-problems.decorator';
import { AUTHENTICATED_POLICY, PUBLIC_POLICY, type AccessPolicy } from './access-policy';
import { getAuthContext } from './auth-context';
import type { Principal } from './principal';

/** The access policy of a route (or of every route of a controller). Read by the global guard. */
export const RoutePolicy = Reflector.createDecorator<AccessPolicy>();
/** An extra audience a route demands (merged into the route's policy). */
export const RouteAudience = Reflector.createDecorator<string>();
/** Marks the ext-authz endpoints, which decide by the gateway route table themselves. */
export const SelfAuthorizing = Reflector.createDecorator<string>();
/** Routes on which HTTP Basic break-glass credentials may stand in for a bearer token (see AllowBreakGlass). */
export const BreakGlassScope = Reflector.createDecorator<string>();

/**
 * A route the hot routes' fast path may answer (see hot-routes.ts): names the method of the same
 * controller that answers it. On a route with a policy the fast path decides first (the resolver's
 * policy, the identity chain) and hands that method the allowed caller; a self-deciding route's
 * method decides itself, with the chain, as its route does.
 */
export const HotRoute = Reflector.createDecorator<string>();

/** Injection token of the one provider that decides break-glass requests (registered by the module that owns them). */
export const BREAK_GLASS_AUTHENTICATOR = Symbol('BREAK_GLASS_AUTHENTICATOR');

export interface BreakGlassAuthenticator {
  /** Accepts the request (and records who made it) or throws the ProblemException to answer. */
  authenticate(req: FastifyRequest, scope: string, route: string): Promise<void>;
}

export const BEARER_SCHEME = 'bearer';
/** The OpenAPI security scheme of break-glass HTTP Basic (declared by AllowBreakGlass, defined in app.factory.ts). */
export const BASIC_SCHEME = 'basic';

/** Open to anyone: no token is read. */
export function Public(): MethodDecorator & ClassDecorator {
  return RoutePolicy(PUBLIC_POLICY);
}

/**
 * Needs a valid token, and with `roles` one of those roles, with `audience` that audience too.
 * Sets the enforced metadata and the Swagger security entry and error responses together,
 * so the spec cannot drift from what is enforced.
 */
export function Authenticated(opts: { roles?: readonly string[]; rule?: string; policy?: AccessPolicy } = {}) {
  const policy: AccessPolicy =
    opts.policy ?? (opts.roles?.length ? { kind: 'authenticated', rule: opts.rule ?? `roles:${opts.roles.join('|')}`, anyRole: opts.roles } : AUTHENTICATED_POLICY);
  const statuses = policy.kind === 'authenticated' && (policy.anyRole?.length || policy.audience) ? [401, 403] : [401];
  return applyDecorators(RoutePolicy(policy), ApiBearerAuth(BEARER_SCHEME), ApiProblems(...statuses));
}

/** Needs one of these roles (any valid token with the role). */
export const Roles = (...roles: string[]) => Authenticated({ roles });

/** Needs this audience in the token besides AUTH_AUDIENCE. */
export function Audience(audience: string) {
  return applyDecorators(RouteAudience(audience), ApiProblems(403));
}

/** An ext-authz endpoint: authenticates with the shared decision function against the gateway route table. */
export function ExtAuthz(table: string) {
  return applyDecorators(SelfAuthorizing(table), ApiBearerAuth(BEARER_SCHEME), ApiSecurity('access-token'), ApiProblems(400, 401, 403));
}

/**
 * Break-glass: on these routes the global guard hands a request carrying `Authorization: Basic`
 * to the registered BreakGlassAuthenticator instead of refusing it as tokenless; that provider
 * alone decides (and, if it accepts, the route's role policy does not apply). Bearer requests
 * are unaffected. Routes without this decorator never accept Basic.
 *
 * It also documents what it enables: the route's OpenAPI security gets `{basic: []}` as an
 * alternative to its bearer entry (`[{bearer: []}, {basic: []}]`), so a route cannot accept
 * Basic without saying so. On a controller, the entry goes on each of its routes that the guard
 * would hand to break-glass (not @Public, not self-authorizing); class decorators run after the
 * method decorators, so the bearer entry @Authenticated put there is already in place and stays first.
 */
export function AllowBreakGlass(scope: string): MethodDecorator & ClassDecorator {
  const mark = BreakGlassScope(scope);
  // ApiSecurity appends to the requirements already declared: `{basic: []}` becomes one more alternative (OR).
  // A new one each time: an ApiSecurity decorator accumulates into its own closure when applied twice.
  const document = (proto: object, name: string | symbol, method: PropertyDescriptor) => ApiSecurity(BASIC_SCHEME)(proto, name, method);
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    if (descriptor) {
      // On a method, write it above @Authenticated (decorators apply bottom-up) to keep bearer first.
      mark(target, key!, descriptor);
      document(target, key!, descriptor);
      return;
    }
    mark(target as new () => unknown);
    const proto = (target as { prototype: object }).prototype;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const method = Object.getOwnPropertyDescriptor(proto, name);
      const handler = method?.value as object | undefined;
      if (name === 'constructor' || typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      // The guard never hands these to break-glass: public routes read no credential, self-authorizing ones decide alone.
      if (Reflect.getMetadata(SelfAuthorizing.KEY, handler) !== undefined) continue;
      if ((Reflect.getMetadata(RoutePolicy.KEY, handler) as AccessPolicy | undefined)?.kind === 'public') continue;
      document(proto, name, method!);
    }
  };
}

/** The verified caller of the current request. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const auth = getAuthContext(ctx.switchToHttp().getRequest());
  if (!auth) throw new Error('CurrentUser used on a route without authentication');
  return auth.principal;
});
