/**
 * The kinds of MLflow path the proxy knows, matched on the normalised path relative to MLFLOW_URL
 * (see normalisePath in config/request-path.ts): what is not listed here is refused (fail closed).
 * Here, with the configuration, because MLFLOW_PUBLIC_PATHS is checked against it at boot.
 */
export type MlflowPathClass =
  /** OTLP/HTTP trace ingestion: listed service accounts with EDIT on X-Mlflow-Experiment-Id. */
  | 'traces'
  /** The REST API, the UI's ajax API and the artifact endpoints: experiment permissions apply. */
  | 'rest'
  /** The UI's pages and assets and MLflow's probes: any authenticated caller, GET and HEAD only. */
  | 'ui'
  /** Anything else MLflow might serve: refused. */
  | 'unknown';

const REST = /^\/(?:api|ajax-api)(?:\/|$)|^\/(?:graphql|get-artifact|get-trace-artifact)$|^\/model-versions(?:\/|$)/;
const UI = /^\/$|^\/static-files(?:\/|$)|^\/(?:favicon\.ico|health|version|server-info)$/;

export function mlflowPathClass(path: string): MlflowPathClass {
  if (path === '/v1/traces') return 'traces';
  if (REST.test(path)) return 'rest';
  if (UI.test(path)) return 'ui';
  return 'unknown';
}

export const PUBLIC_PATH_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
