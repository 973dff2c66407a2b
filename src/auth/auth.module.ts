import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule, HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { WsTicketService } from './ws-ticket.service';
import { AccessDecider } from './access-decider.service';
import { AuthController } from './auth.controller';
import { BackchannelLogoutController, registerBackchannelFormHook } from './backchannel-logout.controller';
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
  providers: [
    TokenVerifier,
    AccessDecider,
    RoutePolicyResolver,
    RouteInventory,
    WsTicketService,
    Revocations,
    LogoutTokenVerifier,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [TokenVerifier, AccessDecider, RoutePolicyResolver, RouteInventory, WsTicketService, Revocations],
})
export class AuthModule implements OnModuleInit {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly readiness: ReadinessRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    registerBackchannelFormHook(this.adapterHost.httpAdapter.getInstance<FastifyInstance>());
    const keys = this.verifier.realmKeys();
    if (keys) {
      this.readiness.register('keycloak-jwks', async () =>
        (await keys.reachable()) ? { status: 'up' } : { status: 'down', detail: `JWKS of realm ${this.config.keycloak.realm} unreachable` },
      );
    }
  }
}
