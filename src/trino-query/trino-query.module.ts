import { Module, type OnModuleInit } from '@nestjs/common';
import { degradedWhenUnreachable, ReadinessRegistry } from '../common/readiness.registry';
import { AuthModule } from '../auth/auth.module';
import { QueryOwnership } from './query-ownership';
import { SessionQueries } from './session-queries';
import { TrinoProtocolController } from './trino-protocol.controller';
import { TrinoProtocolService } from './trino-protocol.service';
import { TrinoQueryController } from './trino-query.controller';
import { TrinoQueryService } from './trino-query.service';
import { TrinoClient } from './trino.client';

/**
 * trino-query: the Trino client protocol through the BFF (POST /v1/statement, nextUri follow and
 * cancel, /v1/info, /v1/query/{id}) with X-Trino-User from the token and per-user query ownership,
 * and POST /trino/query for frontends. TrinoClient is the only thing that talks to the coordinator.
 */
@Module({
  imports: [AuthModule],
  controllers: [TrinoProtocolController, TrinoQueryController],
  providers: [TrinoClient, QueryOwnership, TrinoProtocolService, TrinoQueryService, SessionQueries],
})
export class TrinoQueryModule implements OnModuleInit {
  constructor(
    private readonly client: TrinoClient,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    const infoUrl = this.client.infoUrl;
    if (infoUrl) {
      // Trino down degrades the BFF (its other routes still work); it does not take it out of rotation.
      this.readiness.register('trino', degradedWhenUnreachable(infoUrl, 'Trino coordinator unreachable'));
    }
  }
}
