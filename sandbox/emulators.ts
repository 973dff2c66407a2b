import { randomBytes } from 'node:crypto';
import { DEFAULT_LLM_MODELS, startLlmProvider } from './llm-provider';
import { startMlflow } from './mlflow';
import { startMlAgent } from './ml-agent';
import { startTrinoCoordinator } from './trino-coordinator';
import { startTrinoGateway } from './trino-gateway';
import { EXAMPLE_MODEL_ID, EXAMPLE_QUERY_ID, EXAMPLE_RUN_ID } from '../src/common/openapi-examples';
import type { SandboxServer } from './types';

/** What every sandbox emulator gets: the issuer to verify exchanged tokens against, and the env built so far. */
export interface EmulatorContext {
  issuer: string;
  jwksUri: string;
  workspaceId: string;
  /** Environment assembled so far (earlier emulators' URLs, e.g. TRINO_URL for the ML-Agent). */
  env: Record<string, string>;
  /** `npm start`'s sandbox: the first query and run get the ids the OpenAPI examples name (src/sandbox-demo.ts creates them). */
  demo: boolean;
}

export interface Emulator {
  name: string;
  /** Starts the emulator; returns it with the env keys that point the BFF at it. */
  start(ctx: EmulatorContext): Promise<{ server: SandboxServer; env: Record<string, string> }>;
}

/**
 * The upstream emulators sandbox mode starts, in order. Plugging one in is one entry here.
 * (The OIDC issuer is not in this list: everything else depends on it, see index.ts.)
 */
export const EMULATORS: Emulator[] = [
  // Trino coordinator (TRINO_AUTH=none: trusts X-Trino-User); first, as later emulators (ML-Agent) query it.
  {
    name: 'trino-coordinator',
    start: async (ctx) => {
      const server = await startTrinoCoordinator({ queryIds: ctx.demo ? [EXAMPLE_QUERY_ID] : undefined });
      // It serves a query's page too (/ui/query.html, where the BFF sends a query's infoUri).
      return { server, env: { TRINO_URL: server.url, TRINO_UI_URL: server.url } };
    },
  },
  {
    name: 'ml-agent',
    start: async (ctx) => {
      const server = await startMlAgent({
        verify: { issuer: ctx.issuer, jwksUri: ctx.jwksUri, audience: `${ctx.workspaceId}-ml-agent` },
        trinoUrl: ctx.env.TRINO_URL,
      });
      return { server, env: { ML_AGENT_URL: server.url } };
    },
  },
  {
    // Agents' LLM: a random key per sandbox, the emulator's models offered to agents, a visible stream (25 words/s).
    name: 'llm-provider',
    start: async () => {
      const apiKey = randomBytes(24).toString('base64url');
      const server = await startLlmProvider({ apiKey });
      server.setChunkDelayMs(40);
      return { server, env: { LLM_BASE_URL: `${server.url}/v1`, LLM_API_KEY: apiKey, AGENT_MODELS: DEFAULT_LLM_MODELS.join(',') } };
    },
  },
  {
    // Trino Gateway admin API: accepts tokens exchanged for `${workspace}-trino-gw`, plus one random preset Basic user (break-glass).
    name: 'trino-gateway',
    start: async (ctx) => {
      const password = randomBytes(18).toString('base64url');
      const server = await startTrinoGateway({
        verify: { issuer: ctx.issuer, jwksUri: ctx.jwksUri, audience: `${ctx.workspaceId}-trino-gw` },
        basicUsers: { 'bff-break-glass': { password, privileges: 'ADMIN_USER_API' } },
      });
      return { server, env: { TRINO_GATEWAY_URL: server.url, TRINO_GATEWAY_BASIC_AUTH: `bff-break-glass:${password}` } };
    },
  },
  {
    // MLflow tracking server (no auth of its own): the BFF is its only auth layer. Demo defaults: probes public, the
    // OTEL collector may send traces, /data-team edits and ADMIN manages every experiment.
    name: 'mlflow',
    start: async (ctx) => {
      const server = await startMlflow(ctx.demo ? { runIds: [EXAMPLE_RUN_ID], modelIds: [EXAMPLE_MODEL_ID] } : {});
      return {
        server,
        env: {
          MLFLOW_URL: server.url,
          MLFLOW_PUBLIC_PATHS: 'GET /health,GET /version',
          MLFLOW_TRACE_CLIENTS: 'otel-collector',
          MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ '/data-team': 'EDIT', ADMIN: 'MANAGE' }),
        },
      };
    },
  },
];
