import { Reflector } from '@nestjs/core';
import type { AppConfig } from '../config/app-config';

/** The downstream audience a route exchanges the caller's token for (short name, or read from the config). */
export type ExchangeAudienceSpec = string | ((config: AppConfig) => string);

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

type Carrier = { [EXCHANGED_TOKEN]?: LazyExchangedToken };

export function setExchangedToken(req: object, token: LazyExchangedToken): void {
  Object.defineProperty(req, EXCHANGED_TOKEN, { value: token, enumerable: false, configurable: true });
}

export function getExchangedToken(req: object): LazyExchangedToken | undefined {
  return (req as Carrier)[EXCHANGED_TOKEN];
}
