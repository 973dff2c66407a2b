import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { getAuthContext } from '../auth/auth-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ExchangeAudience, getExchangedToken, setExchangedToken } from './exchange-context';
import { TokenExchangeService } from './token-exchange.service';

/**
 * Runs after the global AuthGuard on routes marked @ExchangeTokenFor(aud): exchanges the verified
 * caller's token for that audience (cached) and leaves the result for @ExchangedToken(). Failures
 * are the service's problems (403 token_exchange_denied, 503 identity_provider_unavailable), so
 * the handler never runs without its downstream token.
 *
 * A request without a bearer caller (a break-glass request authenticated with HTTP Basic on a
 * route that allows it) is passed through without a token: @ExchangedToken() refuses to answer
 * for it, so such a handler must ask for its credentials explicitly.
 */
@Injectable()
export class ExchangeTokenInterceptor implements NestInterceptor {
  private readonly audiences = new WeakMap<object, string | null>();

  constructor(
    private readonly reflector: Reflector,
    private readonly exchange: TokenExchangeService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async intercept(ctx: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (ctx.getType() !== 'http') return next.handle();
    const audience = this.audienceOf(ctx);
    if (!audience) return next.handle();
    const req = ctx.switchToHttp().getRequest<object>();
    const auth = getAuthContext(req);
    if (auth && getExchangedToken(req)?.audience !== audience) {
      const token = await this.exchange.exchangeFor(audience, auth.token, auth.principal);
      setExchangedToken(req, { audience, token });
    }
    return next.handle();
  }

  private audienceOf(ctx: ExecutionContext): string | undefined {
    const handler = ctx.getHandler();
    let audience = this.audiences.get(handler);
    if (audience === undefined) {
      const spec = this.reflector.getAllAndOverride(ExchangeAudience, [handler, ctx.getClass()]);
      audience = spec === undefined ? null : typeof spec === 'function' ? spec(this.config) : spec;
      this.audiences.set(handler, audience);
    }
    return audience ?? undefined;
  }
}
