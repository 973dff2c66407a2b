import type { MetricsService } from '../../src/common/metrics.service';
import { ReadinessRegistry } from '../../src/common/readiness.registry';
import type { AppConfig } from '../../src/config/app-config';
import { MlflowDatasetDecider } from '../../src/mlflow/mlflow-datasets';
import { MlflowDenials } from '../../src/mlflow/mlflow-denials';
import { MlflowGraphqlDecider } from '../../src/mlflow/mlflow-graphql';
import { MlflowPermissionService } from '../../src/mlflow/mlflow-permission.service';
import { MlflowRegistryDecider } from '../../src/mlflow/mlflow-registry';
import { MlflowRestDecider } from '../../src/mlflow/mlflow-rest';
import { MlflowScorerDecider } from '../../src/mlflow/mlflow-scorers';
import { MlflowTraceDecider } from '../../src/mlflow/mlflow-traces';
import type { MlflowClient } from '../../src/mlflow/mlflow.client';
import { StateStore } from '../../src/state/state-store';
import { ValkeyClient } from '../../src/state/valkey-client';

/**
 * The MLflow REST decision code wired as the app wires it — the permission service on the in-memory state
 * store, every family's decider — around a stand-in MLflow client (unit specs). `denied` hears the reason
 * label of each refusal the denial counter counts.
 */
export function mlflowRestHarness(
  config: AppConfig,
  client: MlflowClient,
  denied: (reason: string) => void = () => undefined,
): { permissions: MlflowPermissionService; decider: MlflowRestDecider } {
  const permissions = new MlflowPermissionService(config, new StateStore(config, new ValkeyClient(config, new ReadinessRegistry())), client);
  const metrics = { counter: () => ({ inc: (labels: { reason: string }) => denied(labels.reason) }) } as unknown as MetricsService;
  const denials = new MlflowDenials(metrics);
  const decider = new MlflowRestDecider(
    permissions,
    denials,
    client,
    new MlflowRegistryDecider(permissions, denials, client),
    new MlflowGraphqlDecider(permissions, denials),
    new MlflowTraceDecider(permissions, denials, client),
    new MlflowScorerDecider(permissions, denials, client),
    new MlflowDatasetDecider(permissions, denials, client),
  );
  return { permissions, decider };
}
