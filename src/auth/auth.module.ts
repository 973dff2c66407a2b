import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { WsTicketService } from './ws-ticket.service';
import { AccessDecider } from './access-decider.service';
import { AuthController } from './auth.controller';
import { BackchannelLogoutController } from './backchannel-logout.controller';
import { LogoutTokenVerifier } from './logout-token';
import { Revocations } from './revocation.service';
import { AuthGuard } from './auth.guard';
import { ExtAuthzController } from './ext-authz.controller';
import { RouteInventory } from './route-inventory';
import { RoutePolicyResolver } from './route-policy.resolver';
import { TokenVerifier } from './token-verifier.service';

@Module({
  imports: [DiscoveryModule],
  controllers: [AuthController, ExtAuthzController, BackchannelLogoutController],
  // WsTicketService is here because a ticket is a credential: /api/auth checks one, the agent upgrade redeems it.
  // AuthGuard runs on every route: AppModule makes it global (src/pipeline.ts, GLOBAL_GUARDS).
  providers: [TokenVerifier, AccessDecider, RoutePolicyResolver, RouteInventory, WsTicketService, Revocations, LogoutTokenVerifier, AuthGuard],
  exports: [TokenVerifier, AccessDecider, RoutePolicyResolver, RouteInventory, WsTicketService, Revocations, AuthGuard],
})
export class AuthModule implements OnModuleInit {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly readiness: ReadinessRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const keys = this.verifier.realmKeys();
    if (keys) {
      this.readiness.register('keycloak-jwks', async () =>
        (await keys.reachable()) ? { status: 'up' } : { status: 'down', detail: `JWKS of realm ${this.config.keycloak.realm} unreachable` },
      );
    }
  }
}
