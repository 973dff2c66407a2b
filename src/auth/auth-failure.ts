import type { ProblemReason } from '../common/problem';

/** Why a token was not accepted. Carries only the reason and a safe detail — never the token. */
export class AuthFailure extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 503,
    readonly reason: ProblemReason,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'AuthFailure';
  }
}

export const invalid = (detail: string) => new AuthFailure(401, 'token_invalid', detail);
