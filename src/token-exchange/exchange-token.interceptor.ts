import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { getAuthContext } from '../auth/auth-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { downstreamToken, ExchangeAudience, getExchangedToken, setExchangedToken, type DownstreamTokenRule } from './exchange-context';
import { TokenExchangeService } from './token-exchange.service';

/**
 * Runs after the global AuthGuard on routes marked @ExchangeTokenFor(aud): leaves for the handler
 * (@ExchangedToken(), @CurrentCaller()) the verified caller's token exchanged for that audience — a
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
  private readonly rules = new WeakMap<object, DownstreamTokenRule | null>();

  constructor(
    private readonly reflector: Reflector,
    private readonly exchange: TokenExchangeService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const rule = this.ruleOf(ctx);
    if (!rule) return next.handle();
    const req = ctx.switchToHttp().getRequest<object>();
    const auth = getAuthContext(req);
    if (auth && getExchangedToken(req)?.audience !== rule.audience) {
      setExchangedToken(
        req,
        downstreamToken(rule, auth, (aud, subject, principal) => this.exchange.exchangeFor(aud, subject, principal)),
      );
    }
    return next.handle();
  }

  private ruleOf(ctx: ExecutionContext): DownstreamTokenRule | undefined {
    const handler = ctx.getHandler();
    let rule = this.rules.get(handler);
    if (rule === undefined) {
      const spec = this.reflector.getAllAndOverride(ExchangeAudience, [handler, ctx.getClass()]);
      const resolved = typeof spec === 'function' ? spec(this.config) : spec;
      rule = resolved === undefined ? null : typeof resolved === 'string' ? { audience: resolved } : resolved;
      this.rules.set(handler, rule);
    }
    return rule ?? undefined;
  }
}
