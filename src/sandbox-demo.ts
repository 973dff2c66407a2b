import type { INestApplication } from '@nestjs/common';
import { AgentsService } from './agent-service/agents.service';
import { TokenVerifier } from './auth/token-verifier.service';
import {
  EXAMPLE_AGENT_ID,
  EXAMPLE_ARTIFACT_PATH,
  EXAMPLE_EXPERIMENT_ID,
  EXAMPLE_MODEL_ID,
  EXAMPLE_QUERY_ID,
  EXAMPLE_REGISTERED_MODEL,
  EXAMPLE_RUN_ID,
} from './common/openapi-examples';

/** What the demo needs: the running BFF, a token per demo user, and which emulators are the sandbox's own. */
export interface SandboxDemoContext {
  app: INestApplication;
  /** The BFF's own address (the demo is created through its API, as a user would). */
  baseUrl: string;
  token(user: 'admin'): Promise<string>;
  /** Names of the sandbox emulators the BFF points at (a group the user pointed elsewhere gets nothing). */
  emulators: ReadonlySet<string>;
}

/** Thrown when a step of the demo answers otherwise than expected: the banner says which. */
export class SandboxDemoError extends Error {}

/**
 * Sandbox mode's demo data: the resources the OpenAPI examples name, so that every "Try it out" of
 * Swagger UI succeeds with the demo admin's token. They are the admin's, created through the BFF's API
 * as the admin would (a finished query, an MLflow experiment with a run, a metric, an artifact, a logged model, a
 * registered model, and alice's READ grants), except the agent, whose id the BFF would otherwise choose at random.
 * Other users get what the BFF gives them for another's resources (404 for a query or an agent).
 */
export async function createSandboxDemo(ctx: SandboxDemoContext): Promise<void> {
  const admin = await ctx.token('admin');
  const principal = await ctx.app.get(TokenVerifier).verify(admin);
  await ctx.app.get(AgentsService).create(principal, { name: 'Sales analyst', description: 'Answers questions about the sales schema' }, EXAMPLE_AGENT_ID);
  if (ctx.emulators.has('trino-coordinator')) await demoQuery(ctx.baseUrl, admin);
  if (ctx.emulators.has('mlflow')) await demoExperiment(ctx.baseUrl, admin);
}

async function call(url: string, token: string, method: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new SandboxDemoError(`${method} ${new URL(url).pathname} answered ${res.status}: ${text.slice(0, 200)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** The first query, run to its end through the BFF: the example query id names it. */
async function demoQuery(base: string, token: string): Promise<void> {
  let page = (await call(`${base}/v1/statement`, token, 'POST', 'SELECT nationkey, name FROM nation ORDER BY nationkey', 'text/plain')) as {
    id: string;
    nextUri?: string;
  };
  if (page.id !== EXAMPLE_QUERY_ID) throw new SandboxDemoError(`the demo query got id ${page.id}, not ${EXAMPLE_QUERY_ID}`);
  while (page.nextUri) page = (await call(page.nextUri, token, 'GET')) as typeof page;
}

/** admin's experiment "demo" with one run, a metric, notes.txt and a logged model, a registered model, and alice's READ grant on both. */
async function demoExperiment(base: string, token: string): Promise<void> {
  const api = `${base}/mlflow/api/2.0/mlflow`;
  const { experiment_id } = (await call(`${api}/experiments/create`, token, 'POST', { name: 'demo' })) as { experiment_id: string };
  if (experiment_id !== EXAMPLE_EXPERIMENT_ID) throw new SandboxDemoError(`the demo experiment got id ${experiment_id}, not ${EXAMPLE_EXPERIMENT_ID}`);
  const { run } = (await call(`${api}/runs/create`, token, 'POST', { experiment_id, run_name: 'demo-run', start_time: Date.now() })) as {
    run: { info: { run_id: string } };
  };
  if (run.info.run_id !== EXAMPLE_RUN_ID) throw new SandboxDemoError(`the demo run got id ${run.info.run_id}, not ${EXAMPLE_RUN_ID}`);
  await call(`${api}/runs/log-metric`, token, 'POST', { run_id: EXAMPLE_RUN_ID, key: 'accuracy', value: 0.93, timestamp: Date.now(), step: 0 });
  await call(`${base}/mlflow/api/2.0/mlflow-artifacts/artifacts/${EXAMPLE_ARTIFACT_PATH}`, token, 'PUT', 'Notes of the demo run.\n', 'text/plain');
  const { model } = (await call(`${api}/logged-models`, token, 'POST', { experiment_id, name: 'demo-model', source_run_id: EXAMPLE_RUN_ID })) as {
    model: { info: { model_id: string } };
  };
  if (model.info.model_id !== EXAMPLE_MODEL_ID) throw new SandboxDemoError(`the demo model got id ${model.info.model_id}, not ${EXAMPLE_MODEL_ID}`);
  await call(`${api}/logged-models/${EXAMPLE_MODEL_ID}`, token, 'PATCH', { status: 'LOGGED_MODEL_READY' });
  await call(`${base}/mlflow-permissions/experiments/${EXAMPLE_EXPERIMENT_ID}/users/alice`, token, 'PUT', { permission: 'READ' });
  await call(`${api}/registered-models/create`, token, 'POST', { name: EXAMPLE_REGISTERED_MODEL });
  await call(`${base}/mlflow-permissions/registered-models/${EXAMPLE_REGISTERED_MODEL}/users/alice`, token, 'PUT', { permission: 'READ' });
}
