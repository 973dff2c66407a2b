import { HttpException } from '@nestjs/common';

/** The stable machine-readable reasons of every error the BFF answers (the `reason` of every problem+json; listed in the OpenAPI spec). */
export type ProblemReason =
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'issuer_not_trusted'
  | 'audience_mismatch'
  | 'insufficient_role'
  | 'claim_missing'
  | 'token_exchange_denied'
  | 'identity_provider_unavailable'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'validation_failed'
  | 'ambiguous_token'
  | 'origin_not_allowed'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'header_too_large'
  | 'request_timeout'
  | 'rate_limited'
  | 'conflict'
  | 'internal_error';

const TITLES: Record<ProblemReason, string> = {
  token_missing: 'Authentication required',
  token_invalid: 'Invalid token',
  token_expired: 'Token expired',
  token_revoked: 'Token revoked',
  issuer_not_trusted: 'Token issuer not trusted',
  audience_mismatch: 'Token audience not accepted',
  insufficient_role: 'Insufficient role',
  claim_missing: 'Required claim missing',
  token_exchange_denied: 'Token exchange denied',
  identity_provider_unavailable: 'Identity provider unavailable',
  upstream_unavailable: 'Upstream unavailable',
  upstream_timeout: 'Upstream timeout',
  upstream_error: 'Upstream error',
  validation_failed: 'Validation failed',
  ambiguous_token: 'More than one token',
  origin_not_allowed: 'Origin not allowed',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  payload_too_large: 'Payload too large',
  header_too_large: 'Request header fields too large',
  request_timeout: 'Request timeout',
  rate_limited: 'Too many requests',
  conflict: 'Conflict',
  internal_error: 'Internal error',
};

/** Every reason, in declaration order (the OpenAPI enum of ProblemDto.reason). */
export const PROBLEM_REASONS = Object.keys(TITLES) as ProblemReason[];

/** RFC 9457 problem details, as every error of the BFF is answered. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  reason: ProblemReason;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: Array<{ field: string; message: string }>;
  /** The MLflow proxy's refusals only: MLflow's own error fields, so MLflow's clients report the refusal as what it is. */
  error_code?: string;
  message?: string;
}

/** Members added to a problem body besides RFC 9457's (the MLflow proxy's `error_code` and `message`). */
export type ProblemExtensions = Pick<ProblemBody, 'error_code' | 'message'>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export class ProblemException extends HttpException {
  constructor(
    status: number,
    readonly reason: ProblemReason,
    readonly detail?: string,
    readonly errors?: Array<{ field: string; message: string }>,
    /** Extra response headers, e.g. WWW-Authenticate. */
    readonly headers?: Record<string, string>,
    readonly extensions?: ProblemExtensions,
  ) {
    super({ reason, detail }, status);
  }

  /** The same problem with members added to its body. */
  extend(extensions: ProblemExtensions): ProblemException {
    return new ProblemException(this.getStatus(), this.reason, this.detail, this.errors, this.headers, { ...this.extensions, ...extensions });
  }

  body(instance?: string, requestId?: string): ProblemBody {
    return { ...problemBody(this.getStatus(), this.reason, this.detail, instance, requestId, this.errors), ...this.extensions };
  }
}

export function problemBody(
  status: number,
  reason: ProblemReason,
  detail?: string,
  instance?: string,
  requestId?: string,
  errors?: ProblemBody['errors'],
): ProblemBody {
  const body: ProblemBody = { type: `urn:problem:bff:${reason}`, title: TITLES[reason], status, reason };
  if (detail) body.detail = detail;
  if (instance) body.instance = instance;
  if (requestId) body.requestId = requestId;
  if (errors?.length) body.errors = errors;
  return body;
}

export const problem = {
  unauthorized: (reason: ProblemReason, detail?: string) =>
    new ProblemException(401, reason, detail, undefined, {
      'www-authenticate': `Bearer realm="platform-bff", error="invalid_token"`,
    }),
  forbidden: (reason: ProblemReason, detail?: string) => new ProblemException(403, reason, detail),
  badRequest: (detail: string, errors?: ProblemBody['errors']) => new ProblemException(400, 'validation_failed', detail, errors),
  notFound: (detail = 'No such resource') => new ProblemException(404, 'not_found', detail),
  unavailable: (reason: ProblemReason, detail?: string) => new ProblemException(503, reason, detail),
  badGateway: (detail?: string) => new ProblemException(502, 'upstream_unavailable', detail),
  gatewayTimeout: (detail?: string) => new ProblemException(504, 'upstream_timeout', detail),
};
