/**
 * The Swagger UI sections, in the order a reader meets them: what a frontend developer calls first
 * (who am I, queries, ML, agents, MLflow), then administration and protocol endpoints for tools,
 * operations, and last the endpoints only gateways call (Envoy ext_authz, nginx auth_request).
 * Every @ApiTags name must be here (a test checks the spec).
 */
export const API_TAGS: readonly { name: string; description: string }[] = [
  { name: 'auth', description: 'Who the caller is (the verified token)' },
  { name: 'session', description: 'Browser login: authorization code flow, session cookie, logout' },
  { name: 'trino-query', description: 'Run SQL on Trino and get the whole result as JSON' },
  { name: 'ml-agent', description: 'Browse Trino catalogs and run ML workflows through ML-Agent' },
  { name: 'agents', description: 'LLM agents: create, configure, talk to over a WebSocket' },
  { name: 'mlflow', description: 'MLflow tracking server and UI behind the BFF, with experiment permissions' },
  { name: 'mlflow-permissions', description: 'Who may read, edit or manage an MLflow experiment' },
  { name: 'trino-gateway', description: 'Trino Gateway administration: clusters and routing rules' },
  { name: 'trino-protocol', description: 'The Trino client protocol, for Trino CLI, JDBC and trino-client' },
  { name: 'ops', description: 'Liveness, readiness and Prometheus metrics' },
  { name: 'ext-authz', description: 'For gateways only: Envoy ext_authz (/api/validate) and SecurityPolicy / nginx auth_request (/api/auth)' },
];
