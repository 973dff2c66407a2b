import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { getAuthContext } from '../auth/auth-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ExchangeAudience, getExchangedToken, lazyExchangedToken, setExchangedToken } from './exchange-context';
import { TokenExchangeService } from './token-exchange.service';

/**
 * Runs after the global AuthGuard on routes marked @ExchangeTokenFor(aud): leaves for the handler
 * (@ExchangedToken(), a gateway caller) the verified caller's token exchanged for that audience — a
 * LazyExchangedToken, exchanged (cached) only when the upstream client asks for it as it sends.
 * Nest runs interceptors before pipes, so an exchange made here would be paid by requests the
 * validation pipe then refuses (400): this interceptor makes no call at all. Failures of the
 * exchange are the service's problems (403 token_exchange_denied, 503 identity_provider_unavailable),
 * answered before anything reaches the downstream.
 *
 * A request without a bearer caller (a break-glass request authenticated with HTTP Basic on a
 * route that allows it) gets no exchanged token: @ExchangedToken() refuses to answer for it, so
 * such a handler must ask for its credentials explicitly.
 */
@Injectable()
export class ExchangeTokenInterceptor implements NestInterceptor {
  private readonly audiences = new WeakMap<object, string | null>();

  constructor(
    private readonly reflector: Reflector,
    private readonly exchange: TokenExchangeService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const audience = this.audienceOf(ctx);
    if (!audience) return next.handle();
    const req = ctx.switchToHttp().getRequest<object>();
    const auth = getAuthContext(req);
    if (auth && getExchangedToken(req)?.audience !== audience) {
      setExchangedToken(
        req,
        lazyExchangedToken(audience, () => this.exchange.exchangeFor(audience, auth.token, auth.principal)),
      );
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
