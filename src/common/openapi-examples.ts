/**
 * Identifiers the OpenAPI examples name. Sandbox mode (`npm start` without KEYCLOAK_URL) creates the
 * resources they name at start (the demo admin's: the admin's token is the one to try them with), so
 * that every "Try it out" of Swagger UI succeeds there: an agent, a finished query, an MLflow
 * experiment with a run and an artifact (src/sandbox-demo.ts).
 */
export const EXAMPLE_AGENT_ID = '5b0c7e2a-1d3f-4a6b-9c8d-7e6f5a4b3c2d';
export const EXAMPLE_QUERY_ID = '20250101_120000_00001_abcde';
export const EXAMPLE_EXPERIMENT_ID = '1';
export const EXAMPLE_RUN_ID = '6f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f';
/** A logged model (MLflow 3) of the example run. */
export const EXAMPLE_MODEL_ID = 'm-7a8b9c0d1e2f40a1b2c3d4e5f6a7b8c9';
/** A registered model of the model registry (the demo admin's). */
export const EXAMPLE_REGISTERED_MODEL = 'churn-classifier';
/** An artifact of the example run, as MLflow's proxied artifact store addresses it. */
export const EXAMPLE_ARTIFACT_PATH = `${EXAMPLE_EXPERIMENT_ID}/${EXAMPLE_RUN_ID}/artifacts/notes.txt`;
