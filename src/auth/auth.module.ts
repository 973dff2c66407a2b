import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../ops/readiness.registry';
import { AccessDecider } from './access-decider.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { ExtAuthzController } from './ext-authz.controller';
import { RouteInventory } from './route-inventory';
import { TokenVerifier } from './token-verifier.service';

@Module({
  imports: [DiscoveryModule],
  controllers: [AuthController, ExtAuthzController],
  providers: [TokenVerifier, AccessDecider, RouteInventory, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenVerifier, AccessDecider, RouteInventory],
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
