import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from './readiness.registry';
import { MetricsService } from './metrics.service';

/** Cross-cutting providers every module may inject: the validated config, metrics, readiness checks. */
@Global()
@Module({})
export class CommonModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CommonModule,
      providers: [{ provide: APP_CONFIG, useValue: config }, MetricsService, ReadinessRegistry],
      exports: [APP_CONFIG, MetricsService, ReadinessRegistry],
    };
  }
}
