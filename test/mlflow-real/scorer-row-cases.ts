import type { RealRowCase } from './row-cases';

/**
 * Level cases of MLflow 3's scorers and the model registry's webhooks (src/mlflow/mlflow-scorer-endpoints.ts),
 * in the order they run against the real MLflow: the scorer `LEVEL_SCORER` of the test's experiment has
 * two versions (registered by the experiment's owner); version 1 is deleted. The register
 * case registers another name (its registrant becomes MANAGE of that scorer only). `ids.webhook` is a
 * webhook made by an admin; ADMIN rows refuse a user with MANAGE on the experiment and allow an admin.
 * Part of REAL_ROW_CASES (row-cases.ts).
 */
const api = (p: string) => `/api/${p}`;
const ajax = (p: string) => `/ajax-api/${p}`;
const q = (p: string, params: Record<string, string>) => `${api(p)}?${new URLSearchParams(params).toString()}`;

/** The scorer the level cases read and delete. */
export const LEVEL_SCORER = 'level-scorer';

/** RegisterScorer's body: a built-in Guidelines judge, serialized as `Scorer.register` sends it (a decorated function's code is refused by MLflow itself). */
export function registerScorerBody(experiment: string, name: string): { experiment_id: string; name: string; serialized_scorer: string } {
  const serialized = {
    name,
    aggregations: null,
    description: null,
    mlflow_version: '3.17.2',
    serialization_version: 1,
    builtin_scorer_class: 'Guidelines',
    builtin_scorer_pydantic_data: { name, guidelines: ['Answer politely.'], required_columns: ['inputs', 'outputs'] },
  };
  return { experiment_id: experiment, name, serialized_scorer: JSON.stringify(serialized) };
}

/** CreateWebhook's body: deliveries to `url` when a model version is created. */
export function webhookBody(name: string, url: string): Record<string, unknown> {
  return { name, url, events: [{ entity: 'MODEL_VERSION', action: 'CREATED' }], secret: 'level-secret', description: 'levels' };
}

export const SCORER_CASES: RealRowCase[] = [
  {
    row: '3.0/mlflow/scorers/register',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('3.0/mlflow/scorers/register'), body: registerScorerBody(i.experiment, 'level-registered-scorer') }),
  },
  // Several experiments: the readable ones listed; one experiment (what list_scorers asks): READ on it.
  {
    row: '3.0/mlflow/scorers/list',
    method: 'GET',
    need: 'FILTER',
    marker: () => `"${LEVEL_SCORER}"`,
    request: (i) => ({ path: `${api('3.0/mlflow/scorers/list')}?experiment_ids=${i.experiment}` }),
  },
  { row: '3.0/mlflow/scorers/list', method: 'HEAD', need: 'READ', request: (i) => ({ path: q('3.0/mlflow/scorers/list', { experiment_id: i.experiment }) }) },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    {
      row: '3.0/mlflow/scorers/versions',
      method,
      need: 'READ',
      request: (i) => ({ path: q('3.0/mlflow/scorers/versions', { experiment_id: i.experiment, name: LEVEL_SCORER }) }),
    },
    {
      row: '3.0/mlflow/scorers/get',
      method,
      need: 'READ',
      request: (i) => ({
        path: `/ajax-api/3.0/mlflow/scorers/get?${new URLSearchParams({ experiment_id: i.experiment, name: LEVEL_SCORER, version: '2' }).toString()}`,
      }),
    },
  ]),
  // Decided on MLflow's answer: the scorer has no online config, so nothing of anyone's is answered.
  {
    row: '3.0/mlflow/scorers/online-configs',
    method: 'GET',
    need: 'ANY',
    request: () => ({ path: `${api('3.0/mlflow/scorers/online-configs')}?scorer_ids=00000000-0000-0000-0000-000000000000` }),
  },
  // One version (MANAGE on the scorer, as deleting the whole scorer: test/mlflow-real/scorers.spec.ts).
  {
    row: '3.0/mlflow/scorers/delete',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: ajax('3.0/mlflow/scorers/delete'), body: { experiment_id: i.experiment, name: LEVEL_SCORER, version: 1 } }),
  },
];

export const WEBHOOK_CASES: RealRowCase[] = [
  {
    row: '2.0/mlflow/webhooks',
    method: 'POST',
    need: 'ADMIN',
    request: (i) => ({ path: api('2.0/mlflow/webhooks'), body: webhookBody('level-created', i.webhookUrl) }),
  },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    { row: '2.0/mlflow/webhooks', method, need: 'ADMIN', request: () => ({ path: `${api('2.0/mlflow/webhooks')}?max_results=10` }) },
    { row: '2.0/mlflow/webhooks/{webhook_id}', method, need: 'ADMIN', request: (i) => ({ path: api(`2.0/mlflow/webhooks/${i.webhook}`) }) },
  ]),
  {
    row: '2.0/mlflow/webhooks/{webhook_id}',
    method: 'PATCH',
    need: 'ADMIN',
    request: (i) => ({ path: ajax(`2.0/mlflow/webhooks/${i.webhook}`), body: { webhook_id: i.webhook, description: 'updated', status: 'ACTIVE' } }),
  },
  {
    row: '2.0/mlflow/webhooks/{webhook_id}/test',
    method: 'POST',
    need: 'ADMIN',
    request: (i) => ({ path: api(`2.0/mlflow/webhooks/${i.webhook}/test`), body: { webhook_id: i.webhook, event: { entity: 'MODEL_VERSION', action: 'CREATED' } } }),
  },
  { row: '2.0/mlflow/webhooks/{webhook_id}', method: 'DELETE', need: 'ADMIN', request: (i) => ({ path: api(`2.0/mlflow/webhooks/${i.webhook}`) }) },
];
