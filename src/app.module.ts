import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { MlflowModule } from './mlflow/mlflow.module';
import { AgentsModule } from './agent-service/agents.module';
import { AuthModule } from './auth/auth.module';
import { CommonModule } from './common/common.module';
import type { Logger as PinoLogger } from 'pino';
import { loggingParams } from './common/logging';
import type { AppConfig } from './config/app-config';
import { MlAgentModule } from './ml-agent/ml-agent.module';
import { OpsModule } from './ops/ops.module';
import { StateModule } from './state/state.module';
import { TrinoQueryModule } from './trino-query/trino-query.module';
import { AuditModule } from './audit/audit.module';
import { HardeningModule } from './hardening/hardening.module';
import { TokenExchangeModule } from './token-exchange/token-exchange.module';
import { TrinoGatewayAdminModule } from './trino-gateway-admin/trino-gateway-admin.module';
import { GLOBAL_GUARDS } from './pipeline';

/** The BFF's modules; the request pipeline they serve is in src/pipeline.ts (the global guards, in their order, from there). */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: PinoLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CommonModule.forRoot(config),
        LoggerModule.forRoot(loggingParams(logger)),
        StateModule,
        AuthModule,
        OpsModule,
        TrinoQueryModule,
        AgentsModule,
        AuditModule,
        TokenExchangeModule,
        TrinoGatewayAdminModule,
        MlAgentModule,
        MlflowModule,
        HardeningModule,
      ],
      providers: GLOBAL_GUARDS.map((guard) => ({ provide: APP_GUARD, useExisting: guard })),
    };
  }
}
