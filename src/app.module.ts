import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AuthModule } from './auth/auth.module';
import { CommonModule } from './common/common.module';
import type { Logger as PinoLogger } from 'pino';
import { loggingParams } from './common/logging';
import type { AppConfig } from './config/app-config';
import { OpsModule } from './ops/ops.module';
import { StateModule } from './state/state.module';

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
      ],
    };
  }
}
