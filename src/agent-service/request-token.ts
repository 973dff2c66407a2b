import { createHash, timingSafeEqual } from 'node:crypto';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getAuthContext } from '../auth/auth-context';
import { ProblemException } from '../common/problem';

/** The verified bearer token of the current request (only to compare the legacy `userToken` field, and to seal a ws-ticket). */
export const RequestToken = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const auth = getAuthContext(ctx.switchToHttp().getRequest());
  if (!auth) throw new Error('RequestToken used on a route without authentication');
  return auth.token;
});

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The legacy `userToken` body field: accepted only when it is the request's own (already verified)
 * token. It never authenticates: without a valid Authorization header the guard has refused the
 * request before this runs. A different token is two credentials in one request: 400 ambiguous_token.
 */
export function checkLegacyUserToken(userToken: string | undefined, requestToken: string): void {
  if (userToken === undefined) return;
  if (!timingSafeEqual(digest(userToken), digest(requestToken))) {
    throw new ProblemException(400, 'ambiguous_token', 'userToken is not the bearer token of this request (it never authenticates on its own)', [
      { field: 'userToken', message: 'userToken must equal the bearer token of the request' },
    ]);
  }
}
