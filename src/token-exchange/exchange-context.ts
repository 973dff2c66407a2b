import { Reflector } from '@nestjs/core';
import type { AppConfig } from '../config/app-config';

/** The downstream audience a route exchanges the caller's token for (short name, or read from the config). */
export type ExchangeAudienceSpec = string | ((config: AppConfig) => string);

/** Route metadata set by @ExchangeTokenFor, read by the ExchangeTokenInterceptor. */
export const ExchangeAudience = Reflector.createDecorator<ExchangeAudienceSpec>();

/**
 * Where the interceptor leaves the exchanged token for the handler: under a symbol, not
 * enumerable, so it is never serialised or logged with the request.
 */
const EXCHANGED_TOKEN = Symbol('bff.exchangedToken');

export interface ExchangedTokenContext {
  /** Short audience name, e.g. trino-gw. */
  audience: string;
  token: string;
}

type Carrier = { [EXCHANGED_TOKEN]?: ExchangedTokenContext };

export function setExchangedToken(req: object, ctx: ExchangedTokenContext): void {
  Object.defineProperty(req, EXCHANGED_TOKEN, { value: ctx, enumerable: false, configurable: true });
}

export function getExchangedToken(req: object): ExchangedTokenContext | undefined {
  return (req as Carrier)[EXCHANGED_TOKEN];
}
