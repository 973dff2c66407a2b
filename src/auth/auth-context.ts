import type { Principal } from './principal';

/**
 * What authentication leaves on a request. Kept under a symbol, so it is never enumerated,
 * serialised or logged with the request; the raw token is read only by the token exchange.
 */
export const AUTH_CONTEXT = Symbol('bff.authContext');

export interface AuthContext {
  principal: Principal;
  token: string;
}

type Carrier = { [AUTH_CONTEXT]?: AuthContext };

export function setAuthContext(req: object, ctx: AuthContext): void {
  Object.defineProperty(req, AUTH_CONTEXT, { value: ctx, enumerable: false, configurable: true });
}

export function getAuthContext(req: object): AuthContext | undefined {
  return (req as Carrier)[AUTH_CONTEXT];
}
