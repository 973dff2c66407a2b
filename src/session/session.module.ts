import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { OidcLoginClient } from './oidc-login.client';
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
export class SessionModule {}
