import { Module, type DynamicModule } from '@nestjs/common';
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

/**
 * The BFF. Request pipeline, in order: request id (Fastify) → metrics/logging hooks →
 * AuthGuard (authenticate + authorize, AccessDecider) → token exchange interceptor where a
 * route asks for it → handler → ProblemFilter (problem+json).
 */
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
    };
  }
}
