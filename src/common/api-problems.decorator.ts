import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { ProblemDto } from './problem.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation_failed) or two different tokens (ambiguous_token)',
  401: 'No valid token (token_missing, token_invalid, token_expired, issuer_not_trusted, audience_mismatch)',
  403: 'Authenticated but not allowed (insufficient_role, audience_mismatch, token_exchange_denied)',
  404: 'Not found, or not yours (not_found)',
  409: 'Conflict with the current state (conflict)',
  413: 'Body too large (payload_too_large)',
  429: 'Rate limit or quota reached (rate_limited)',
  502: 'The upstream failed or is unreachable (upstream_unavailable)',
  503: 'A dependency is unavailable (identity_provider_unavailable, upstream_unavailable)',
  504: 'The upstream did not answer in time (upstream_timeout)',
};

/** Documents the problem+json error responses a route can give. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } },
      }),
    ),
  ) as MethodDecorator & ClassDecorator;
}

export const PROBLEM_SCHEMAS = [ProblemDto];
