import type { INestApplicationContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDecider, type Allowed } from './access-decider.service';
import { routePresented } from './auth.guard';
import { RouteInventory, type HotRouteEntry } from './route-inventory';
import { RoutePolicyResolver } from './route-policy.resolver';

/** A fast answer: true when it answered, false to leave the request to the Nest route. */
export type FastAnswer = (req: FastifyRequest, reply: FastifyReply) => boolean;
/** The @HotRoute method of a route with a policy: answers for the caller the fast path allowed. */
export type AllowedAnswer = (req: FastifyRequest, reply: FastifyReply, allowed: Allowed) => boolean;

/**
 * The fast path of the hot routes: the routes marked @HotRoute (GET /auth/me, and the ext-authz
 * checks gateways make before every proxied request: /api/validate/*, /api/auth, /api/auth/*).
 *
 * The table is read from route metadata (RouteInventory.hotRoutes). A request to one of them is
 * decided as the guard decides it — the RoutePolicyResolver's policy for that handler (roles,
 * @Audience, break-glass), the credentials the guard presents (routePresented), the identity chain
 * (AccessDecider.allowedNow: the same credentialOf, revocation and policy steps as decide, on a token
 * already verified and still fresh) — and, when allowed, answered from a Fastify `onRequest` hook by
 * the route's own @HotRoute method, without Nest's per-request pipeline (guards, pipes, the logging
 * middleware's AsyncLocalStorage, promise hops). A self-deciding route (ext-authz) is answered by its
 * @HotRoute method, which decides with the same chain as the route. Anything else — a token not yet
 * verified, any denial, a body to read — returns false and goes through the Nest route unchanged,
 * which decides (and logs) it exactly once. Security headers, CORS, the request id, the access log
 * and metrics apply to both paths: they are Fastify hooks outside this one.
 */
export function hotRoutes(app: INestApplicationContext): FastAnswer {
  const decider = app.get(AccessDecider);
  const resolver = app.get(RoutePolicyResolver);
  const table = new Map<string, { method?: string; answer: FastAnswer }>();
  for (const hot of app.get(RouteInventory).hotRoutes()) {
    const { path, method } = hot.entry;
    table.set(path, { method: method === 'ALL' ? undefined : method, answer: fastAnswer(hot, resolver, decider) });
  }
  return (req, reply) => {
    const url = req.routeOptions.url;
    const route = url === undefined ? undefined : table.get(url);
    if (route === undefined || (route.method !== undefined && route.method !== req.method)) return false;
    return route.answer(req, reply);
  };
}

function fastAnswer({ entry, controller, handler }: HotRouteEntry, resolver: RoutePolicyResolver, decider: AccessDecider): FastAnswer {
  const method = (controller as Record<string, unknown>)[entry.hot];
  if (typeof method !== 'function') throw new Error(`@HotRoute on ${entry.controller}.${entry.handler} names no method ${entry.hot}`);
  const answer = (method as AllowedAnswer).bind(controller);
  const type = controller.constructor as Parameters<RoutePolicyResolver['resolve']>[1];
  return (req, reply) => {
    // Resolved per request, as the guard does (cached by the resolver).
    const route = resolver.resolve(handler, type);
    if (route.kind === 'self') return (answer as FastAnswer)(req, reply);
    // Public routes read no credential; undeclared ones are refused by the guard.
    if (route.kind !== 'policy' || route.policy.kind === 'public') return false;
    const allowed = decider.allowedNow(routePresented(req, route), route.policy);
    return allowed !== undefined && answer(req, reply, allowed);
  };
}
