import type { INestApplicationContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthController } from './auth.controller';
import { ExtAuthzController } from './ext-authz.controller';

type Answer = (req: FastifyRequest, reply: FastifyReply) => boolean;

/**
 * The fast path of the hot routes: GET /auth/me, and the ext-authz checks gateways make before
 * every proxied request (/api/validate/*, /api/auth, /api/auth/*).
 *
 * A request to one of them whose token is already verified (and still fresh in the verifier's
 * cache) and allowed by the route's policy is answered from a Fastify `onRequest` hook — by the
 * same AccessDecider, the same policy (from the RoutePolicyResolver the guard reads: roles, @Audience)
 * and the same answer code as the Nest route, without
 * Nest's per-request pipeline (guards, pipes, the logging middleware's AsyncLocalStorage,
 * promise hops). Anything else — a token not yet verified, any denial, a body to read — returns
 * false and goes through the Nest route unchanged, which decides (and logs) it exactly once.
 * Security headers, CORS, the request id, the access log and metrics apply to both paths: they
 * are Fastify hooks outside this one.
 */
export function hotRoutes(app: INestApplicationContext): (req: FastifyRequest, reply: FastifyReply) => boolean {
  const me = app.get(AuthController);
  const extAuthz = app.get(ExtAuthzController);
  const table = new Map<string, { method?: string; answer: Answer }>([
    ['/auth/me', { method: 'GET', answer: (req, reply) => me.meNow(req, reply) }],
    ['/api/validate/*', { answer: (req, reply) => extAuthz.validateNow(req, reply) }],
    ['/api/auth', { answer: (req, reply) => extAuthz.checkNow(req, reply) }],
    ['/api/auth/*', { answer: (req, reply) => extAuthz.checkNow(req, reply) }],
  ]);
  return (req, reply) => {
    const url = req.routeOptions.url;
    const route = url === undefined ? undefined : table.get(url);
    if (route === undefined || (route.method !== undefined && route.method !== req.method)) return false;
    return route.answer(req, reply);
  };
}
