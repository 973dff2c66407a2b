import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { AuthModule } from '../auth/auth.module';
import { OidcLoginClient } from './oidc-login.client';
import { registerCookies } from './session-cookie';
import { SessionController } from './session.controller';
import { SessionService } from './session.service';

/**
 * Browser sessions: /auth/login, /auth/callback, /auth/logout (OIDC authorization code + PKCE with
 * openid-client) and the server-side sessions behind the cookie, refreshed before their token
 * expires. Modules that accept a session cookie (mlflow) use SessionService.access().
 */
@Module({
  imports: [AuthModule],
  controllers: [SessionController],
  providers: [OidcLoginClient, SessionService],
  exports: [SessionService],
})
export class SessionModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    registerCookies(this.adapterHost.httpAdapter.getInstance<FastifyInstance>());
  }
}
