import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { SESSION_CREDENTIALS } from '../auth/credentials';
import { OidcLoginClient } from './oidc-login.client';
import { SessionController } from './session.controller';
import { SessionService } from './session.service';

/**
 * Browser sessions: /auth/login, /auth/callback, /auth/logout (OIDC authorization code + PKCE with
 * openid-client) and the server-side sessions behind the cookie, refreshed before their token
 * expires. It registers the identity chain's session credential loader (SESSION_CREDENTIALS), through which
 * the modules that accept a session cookie (mlflow) are decided.
 */
@Module({
  imports: [AuthModule],
  controllers: [SessionController],
  providers: [OidcLoginClient, SessionService, { provide: SESSION_CREDENTIALS, useExisting: SessionService }],
  exports: [SessionService],
})
export class SessionModule {}
