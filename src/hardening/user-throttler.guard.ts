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

/**
 * Per-user rate limit on the expensive routes. Runs after the AuthGuard (HardeningModule is
 * registered after AuthModule), so the caller is a verified principal and the counter is keyed
 * by its subject, not by an address shared behind a proxy. Unauthenticated requests are not
 * counted here: the AuthGuard has refused them already.
 */
@Injectable()
export class UserThrottlerGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    if (!RATE_LIMITED_ROUTES.has(`${req.method} ${req.routeOptions?.url ?? ''}`)) return true;
    return getAuthContext(req) === undefined;
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
