import { Module, type OnModuleInit } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { degradedWhenUnreachable, ReadinessRegistry } from '../common/readiness.registry';
import { SessionModule } from '../session/session.module';
import { MlflowDenials } from './mlflow-denials';
import { MlflowForwarder } from './mlflow-forwarder';
import { MlflowGrants } from './mlflow-grants';
import { MlflowDatasetDecider } from './mlflow-datasets';
import { MlflowGraphqlDecider } from './mlflow-graphql';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowPermissionsController } from './mlflow-permissions.controller';
import { MlflowProxyController } from './mlflow-proxy.controller';
import { MlflowProxyService } from './mlflow-proxy.service';
import { MlflowRegistryDecider } from './mlflow-registry';
import { MlflowRestDecider } from './mlflow-rest';
import { MlflowScorerDecider } from './mlflow-scorers';
import { MlflowTraceIngest } from './mlflow-trace-ingest';
import { MlflowTraceDecider } from './mlflow-traces';
import { MlflowClient } from './mlflow.client';
import { RegisteredModelPermissionsController } from './registered-model-permissions.controller';

/**
 * mlflow: /mlflow/** proxied to MLFLOW_URL (UI, REST API, artifacts, OTLP traces) with the BFF as
 * MLflow's only auth layer — bearer tokens and browser sessions, exact path rules, experiment
 * permissions (READ / EDIT / MANAGE, fail closed) — and the grants API. MlflowClient is the only
 * thing that talks to MLflow.
 */
@Module({
  imports: [AuthModule, SessionModule],
  controllers: [MlflowProxyController, MlflowPermissionsController, RegisteredModelPermissionsController],
  providers: [
    MlflowClient,
    MlflowPermissionService,
    MlflowGrants,
    MlflowDenials,
    MlflowRegistryDecider,
    MlflowGraphqlDecider,
    MlflowTraceDecider,
    MlflowScorerDecider,
    MlflowDatasetDecider,
    MlflowTraceIngest,
    MlflowRestDecider,
    MlflowForwarder,
    MlflowProxyService,
  ],
})
export class MlflowModule implements OnModuleInit {
  constructor(
    private readonly client: MlflowClient,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    const url = this.client.url;
    if (url) {
      // MLflow down degrades the BFF (its other routes still work); it does not take it out of rotation.
      this.readiness.register('mlflow', degradedWhenUnreachable(url, 'MLflow unreachable'));
    }
  }
}
