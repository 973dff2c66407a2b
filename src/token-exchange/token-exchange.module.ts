import { Global, Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ClientCredentialsService } from './client-credentials.service';
import { ExchangeTokenInterceptor } from './exchange-token.interceptor';
import { ExchangedTokenCache } from './exchanged-token-cache';
import { TokenEndpointClient } from './token-endpoint.client';
import { TokenExchangeService } from './token-exchange.service';

/**
 * RFC 8693 token exchange (cached in memory and Valkey), the @ExchangeTokenFor interceptor, and the
 * BFF's service-account token. Global: every module that calls a downstream uses it.
 */
@Global()
@Module({
  imports: [AuthModule],
  providers: [TokenEndpointClient, ExchangedTokenCache, TokenExchangeService, ClientCredentialsService, ExchangeTokenInterceptor],
  exports: [TokenEndpointClient, ExchangedTokenCache, TokenExchangeService, ClientCredentialsService, ExchangeTokenInterceptor],
})
export class TokenExchangeModule {}
