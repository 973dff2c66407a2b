import { applyDecorators, createParamDecorator, UseInterceptors, type ExecutionContext } from '@nestjs/common';
import { ApiProblems } from '../common/api-problems.decorator';
import { ExchangeAudience, getExchangedToken, type ExchangeAudienceSpec, type LazyExchangedToken } from './exchange-context';
import { ExchangeTokenInterceptor } from './exchange-token.interceptor';

/**
 * The route (or every route of a controller) calls a downstream with the caller's token exchanged
 * for `${WORKSPACE_ID}-${audience}`; the handler gets it with @ExchangedToken(), a LazyExchangedToken that
 * exchanges only when asked (by the upstream client, after validation: a refused request costs no exchange). `audience` is the
 * short name (e.g. 'trino-gw'), or a function of the config (e.g. `(c) => c.trinoGateway.audience`).
 * Documents the 403 (token_exchange_denied) and 503 (identity_provider_unavailable) it can answer.
 */
export function ExchangeTokenFor(audience: ExchangeAudienceSpec): MethodDecorator & ClassDecorator {
  return applyDecorators(ExchangeAudience(audience), UseInterceptors(ExchangeTokenInterceptor), ApiProblems(403, 503)) as MethodDecorator & ClassDecorator;
}

const exchangedTokenParam = createParamDecorator((_: unknown, ctx: ExecutionContext): LazyExchangedToken => {
  const exchanged = getExchangedToken(ctx.switchToHttp().getRequest<object>());
  if (!exchanged) throw new Error('@ExchangedToken() used on a route without @ExchangeTokenFor() or without a bearer caller');
  return exchanged;
});

/** The exchanged token for the handler (see @ExchangeTokenFor), exchanged on its first get(). Never log it, never return it. */
export const ExchangedToken: () => ParameterDecorator = () => exchangedTokenParam();
