import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { getAuthContext } from '../auth/auth-context';
import { ProblemException } from '../common/problem';

/** The routes whose calls cost an upstream real work (a query, a workflow, an LLM session): `METHOD route`. */
export const RATE_LIMITED_ROUTES: ReadonlySet<string> = new Set([
  'POST /trino/query',
  'POST /v1/statement',
  'POST /chatbot/run-workflow-trino',
  'POST /api/agents/:id/ws-ticket',
]);

const routeOf = (req: FastifyRequest) => `${req.method} ${req.routeOptions?.url ?? ''}`;

/** An authenticated call of an expensive route (the `default` throttler, keyed by the caller). */
export function isUserLimited(context: ExecutionContext): boolean {
  const req = context.switchToHttp().getRequest<FastifyRequest>();
  return RATE_LIMITED_ROUTES.has(routeOf(req)) && getAuthContext(req) !== undefined;
}

/** A call of the public GET /auth/login (the `login` throttler, keyed by the client address). */
export function isLoginStart(context: ExecutionContext): boolean {
  return routeOf(context.switchToHttp().getRequest<FastifyRequest>()) === 'GET /auth/login';
}

/** The client's address as Fastify reports it (TRUST_PROXY honoured). */
export function clientAddress(req: Record<string, unknown>): string {
  return (req as unknown as FastifyRequest).ip ?? 'unknown';
}

/**
 * Rate limits of HTTP routes, two throttlers (HardeningModule): `default`, per user on the expensive
 * routes — it runs after the AuthGuard (GLOBAL_GUARDS in src/pipeline.ts), so the caller
 * is a verified principal and the counter is keyed by its subject, not by an address shared behind a
 * proxy; unauthenticated requests are not counted there, the AuthGuard has refused them already — and
 * `login`, per client address on GET /auth/login, which is public.
 */
@Injectable()
export class UserThrottlerGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    return !isUserLimited(context) && !isLoginStart(context);
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    const auth = getAuthContext(req);
    return `${auth?.principal.issuer ?? ''}|${auth?.principal.subject ?? ''}`;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new ProblemException(429, 'rate_limited', `at most ${detail.limit} calls per minute on this route; retry after ${detail.timeToBlockExpire} s`, undefined, {
      'retry-after': String(detail.timeToBlockExpire),
    });
  }
}
