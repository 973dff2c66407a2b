import { Reflector } from '@nestjs/core';
import type { AuthContext } from '../auth/auth-context';
import type { AppConfig } from '../config/app-config';

/**
 * What a route sends downstream for its bearer caller: the caller's token exchanged for `audience`, or — only where
 * a module's configuration says so (ML_AGENT_TOKEN_MODE=forward) — the caller's own token as it came.
 */
export interface DownstreamTokenRule {
  audience: string;
  forwardRawToken?: boolean;
}

/** The downstream audience a route exchanges the caller's token for (short name, or read from the config). */
export type ExchangeAudienceSpec = string | ((config: AppConfig) => string | DownstreamTokenRule);

/** Route metadata set by @ExchangeTokenFor, read by the ExchangeTokenInterceptor. */
export const ExchangeAudience = Reflector.createDecorator<ExchangeAudienceSpec>();

/**
 * Where the interceptor leaves the exchange for the handler: under a symbol, not enumerable, so it
 * is never serialised or logged with the request.
 */
const EXCHANGED_TOKEN = Symbol('bff.exchangedToken');

/**
 * The caller's token exchanged for one downstream audience, exchanged only when first asked for:
 * by the upstream client, as it sends — after the request was validated and allowed, so a request
 * that will be refused never costs a call to the identity provider. At most one exchange per request.
 */
export interface LazyExchangedToken {
  /** Short audience name, e.g. trino-gw. */
  readonly audience: string;
  /** The exchanged token (a 403 token_exchange_denied or 503 identity_provider_unavailable problem when refused). Never log it. */
  get(): Promise<string>;
}

/** A LazyExchangedToken that calls `exchange` once, on the first get(). */
export function lazyExchangedToken(audience: string, exchange: () => Promise<string>): LazyExchangedToken {
  let pending: Promise<string> | undefined;
  return { audience, get: () => (pending ??= exchange()) };
}

/**
 * The token a bearer caller's request carries downstream under `rule`: exchanged (by `exchange`, e.g.
 * TokenExchangeService.exchangeFor) on the first get(), or the caller's own token in forward mode.
 */
export function downstreamToken(
  rule: DownstreamTokenRule,
  auth: AuthContext,
  exchange: (audience: string, subjectToken: string, principal: AuthContext['principal']) => Promise<string>,
): LazyExchangedToken {
  if (rule.forwardRawToken) return { audience: rule.audience, get: () => Promise.resolve(auth.token) };
  return lazyExchangedToken(rule.audience, () => exchange(rule.audience, auth.token, auth.principal));
}

type Carrier = { [EXCHANGED_TOKEN]?: LazyExchangedToken };

export function setExchangedToken(req: object, token: LazyExchangedToken): void {
  Object.defineProperty(req, EXCHANGED_TOKEN, { value: token, enumerable: false, configurable: true });
}

export function getExchangedToken(req: object): LazyExchangedToken | undefined {
  return (req as Carrier)[EXCHANGED_TOKEN];
}
