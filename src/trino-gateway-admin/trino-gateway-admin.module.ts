import { Module, type OnModuleInit } from '@nestjs/common';
import { BREAK_GLASS_AUTHENTICATOR } from '../auth/decorators';
import { degradedWhenUnreachable, ReadinessRegistry } from '../common/readiness.registry';
import { BreakGlassService } from './break-glass/break-glass.service';
import { IdentityProviderProbe } from './break-glass/identity-provider-probe';
import { TrinoGatewayAdminController } from './trino-gateway-admin.controller';
import { TrinoGatewayAdminService } from './trino-gateway-admin.service';
import { TrinoGatewayClient } from './trino-gateway.client';

/**
 * Trino Gateway administration: backends and routing rules, with exchanged tokens, audited
 * writes, and the break-glass path (registered with the global guard as its authenticator).
 */
@Module({
  controllers: [TrinoGatewayAdminController],
  providers: [
    TrinoGatewayClient,
    TrinoGatewayAdminService,
    IdentityProviderProbe,
    BreakGlassService,
    { provide: BREAK_GLASS_AUTHENTICATOR, useExisting: BreakGlassService },
  ],
})
export class TrinoGatewayAdminModule implements OnModuleInit {
  constructor(
    private readonly gateway: TrinoGatewayClient,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    const url = this.gateway.url;
    if (!url) return;
    // Not critical for the BFF as a whole: an unreachable gateway degrades readiness, it does not fail it.
    this.readiness.register('trino-gateway', degradedWhenUnreachable(`${url}/gateway`, 'Trino Gateway unreachable'));
  }
}
