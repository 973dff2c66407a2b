import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { ProblemDto } from './problem.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation_failed) or two different tokens (ambiguous_token)',
  401: 'No valid token (token_missing, token_invalid, token_expired, token_revoked, issuer_not_trusted, audience_mismatch)',
  403: 'Authenticated but not allowed (insufficient_role, audience_mismatch, token_exchange_denied)',
  404: 'Not found, or not yours (not_found)',
  405: 'Method not allowed on this path (method_not_allowed)',
  408: 'The request was not received in time (request_timeout)',
  409: 'Conflict with the current state (conflict)',
  413: 'Body too large (payload_too_large)',
  429: 'Rate limit or quota reached (rate_limited)',
  431: 'Request line and headers over the server limit (header_too_large)',
  502: 'The upstream failed or is unreachable (upstream_unavailable)',
  503: 'A dependency is unavailable (identity_provider_unavailable, upstream_unavailable)',
  504: 'The upstream did not answer in time (upstream_timeout)',
};

const problemResponse = (status: number) => ({
  description: DESCRIPTIONS[status] ?? 'Error',
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } },
});

/** Documents the problem+json error responses a route can give. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, ...problemResponse(status) }))) as MethodDecorator & ClassDecorator;
}

type Operation = { requestBody?: unknown; responses?: Record<string, unknown> };
type Paths = Record<string, object>;
const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'search']);

/**
 * Adds the answers no route decides for itself, so that every response the BFF gives is in the spec
 * (schemathesis checks it): 408 and 431 of the HTTP parser on every operation (src/common/client-error.ts),
 * 413 of the body limit on every operation that takes a body, 429 on the rate-limited routes
 * (`METHOD /fastify/:route` keys). An operation's own declaration of a status wins.
 */
export function documentTransportProblems(paths: Paths, rateLimited: Iterable<string>): void {
  const limited = new Set([...rateLimited].map((key) => key.replace(/:([A-Za-z0-9_]+)/g, '{$1}').toLowerCase()));
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item as Record<string, unknown>)) {
      if (!METHODS.has(method) || !op || typeof op !== 'object') continue;
      const operation = op as Operation;
      const responses = (operation.responses ??= {});
      const add = (status: number) => (responses[String(status)] ??= problemResponse(status));
      if (operation.requestBody !== undefined) add(413);
      if (limited.has(`${method} ${path}`.toLowerCase())) add(429);
      add(408);
      add(431);
    }
  }
}

export const PROBLEM_SCHEMAS = [ProblemDto];
