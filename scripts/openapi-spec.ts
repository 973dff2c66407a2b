import { buildOpenApi, createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/load-config';

/**
 * The configuration the committed spec is generated with: fixed, offline values, so the
 * spec depends on the code only (no secret, no live URL, nothing from the caller's env).
 */
export const SPEC_ENV = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'silent',
  KEYCLOAK_URL: 'https://keycloak.example.com',
  KEYCLOAK_REALM: 'platform',
  BFF_CLIENT_ID: 'platform-bff',
  BFF_CLIENT_SECRET: 'spec-generation-only',
  WORKSPACE_ID: 'example',
  TRINO_URL: 'https://trino.example.com',
  TRINO_GATEWAY_URL: 'https://trino-gateway.example.com',
  ML_AGENT_URL: 'https://ml-agent.example.com',
  LLM_BASE_URL: 'https://llm.example.com/v1',
  LLM_API_KEY: 'spec-generation-only',
  AGENT_MODELS: 'sandbox-chat,sandbox-chat-mini',
  MLFLOW_URL: 'https://mlflow.example.com',
};

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** The OpenAPI document generated from the code, as committed in openapi/openapi.json. */
export async function generateOpenApiJson(): Promise<string> {
  const app = await createApp(loadConfig(SPEC_ENV));
  try {
    await app.init();
    return JSON.stringify(sortKeys(buildOpenApi(app)), null, 2) + '\n';
  } finally {
    await app.close();
  }
}
