import type { OpenAPIObject } from '@nestjs/swagger';
import { EXAMPLE_ARTIFACT_PATH, EXAMPLE_MODEL_ID } from '../common/openapi-examples';

/**
 * The `path` example of each method of the MLflow proxy. It is one route (`@All`), so its decorators give every
 * method the same example, and Swagger UI's "Try it out" would send a search to PUT, PATCH and DELETE: each
 * method gets an MLflow endpoint that takes it (in sandbox mode's demo data: the example run's artifact, the
 * example logged model's tags).
 */
export const MLFLOW_PATH_EXAMPLES: Record<string, string> = {
  get: 'api/2.0/mlflow/experiments/search',
  post: 'api/2.0/mlflow/experiments/search',
  put: `api/2.0/mlflow-artifacts/artifacts/${EXAMPLE_ARTIFACT_PATH}`,
  patch: `api/2.0/mlflow/logged-models/${EXAMPLE_MODEL_ID}/tags`,
  delete: `api/2.0/mlflow-artifacts/artifacts/${EXAMPLE_ARTIFACT_PATH}`,
};

/** Sets MLFLOW_PATH_EXAMPLES on the proxy's operations of the generated document. */
export function documentMlflowPathExamples(paths: OpenAPIObject['paths'], route = '/mlflow/{path}'): void {
  const item = paths[route] as Record<string, { parameters?: Array<{ name?: string; in?: string; example?: unknown }> }> | undefined;
  if (!item) return;
  for (const [method, example] of Object.entries(MLFLOW_PATH_EXAMPLES)) {
    const param = item[method]?.parameters?.find((p) => p.in === 'path' && p.name === 'path');
    if (param) param.example = example;
  }
}
