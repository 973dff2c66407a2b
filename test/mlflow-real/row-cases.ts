import { SCORER_CASES, WEBHOOK_CASES } from './scorer-row-cases';
import { DATASET_CASES } from './dataset-row-cases';
import { TRACE_CASES } from './trace-row-cases';

/**
 * Level cases of the endpoint table's rows that the sandbox MLflow does not serve (MLflow 3's logged
 * models, runs/outputs, the model registry, traces and assessments, scorers, webhooks, evaluation datasets):
 * test/mlflow-real/endpoint-levels.spec.ts runs them against the real MLflow,
 * test/integration/mlflow-decisions.spec.ts checks that every row has a case in one of the two lists.
 * The registry's rows are decided on the registered model's grants, webhooks (ADMIN) on the caller's
 * groups alone, a dataset's on the experiments it is linked to, the others on the experiment's.
 */
export type Need = 'ANY' | 'READ' | 'EDIT' | 'MANAGE' | 'FILTER' | 'ADMIN';

export interface Ids {
  experiment: string;
  run: string;
  /** A logged model of the run. */
  model: string;
  /** A registered model with version 1 made from the logged model. */
  registered: string;
  /** A trace of the experiment (MLflow 3), with one assessment. */
  trace: string;
  assessment: string;
  /** A webhook (made by an admin), and where its deliveries go. */
  webhook: string;
  webhookUrl: string;
  /** Evaluation datasets (MLflow 3) linked to the experiment alone; the first named levels-eval. */
  dataset: string;
  spareDataset: string;
}

export interface RealRowCase {
  row: string;
  method: string;
  need: Need;
  request: (ids: Ids) => { path: string; body?: unknown };
  /** FILTER: what the answer holds when the caller may see the item (default: the logged model's id). */
  marker?: (ids: Ids) => string;
}

const api = (p: string) => `/api/${p}`;
const ajax = (p: string) => `/ajax-api/${p}`;
const q = (p: string, params: Record<string, string>) => `${api(p)}?${new URLSearchParams(params).toString()}`;
const registeredMarker = (i: Ids) => `"${i.registered}"`;
const RENAMED = (i: Ids) => `${i.registered}-renamed`;

/** MLflow 3's server-info: any authenticated caller. */
const SERVER_INFO_CASES: RealRowCase[] = ['GET', 'HEAD'].map((method) => ({
  row: '3.0/mlflow/server-info',
  method,
  need: 'ANY',
  request: () => ({ path: api('3.0/mlflow/server-info') }),
}));
/** The fields of the UI's GraphQL documents (test/support/mlflow-graphql.ts) in one operation. */
const UI_FIELDS = (i: Ids) => ({
  query: `query Levels($e: MlflowGetExperimentInput, $r: MlflowGetRunInput, $s: MlflowSearchRunsInput, $m: MlflowGetMetricHistoryBulkIntervalInput) {
    mlflowGetExperiment(input: $e) { experiment { experimentId name } apiError { code } }
    mlflowGetRun(input: $r) { run { info { runUuid } modelVersions { name version } } apiError { code } }
    mlflowSearchRuns(input: $s) { runs { info { runUuid } } apiError { code } }
    mlflowGetMetricHistoryBulkInterval(input: $m) { metrics { key value } apiError { code } }
  }`,
  variables: { e: { experimentId: i.experiment }, r: { runId: i.run }, s: { experimentIds: [i.experiment] }, m: { runIds: [i.run], metricKey: 'loss' } },
});

/** The model registry's rows, in order: a version 2 is made, tagged, deleted; the model renamed last, then deleted. */
const REGISTRY_CASES: RealRowCase[] = [
  {
    row: '2.0/mlflow/registered-models/create',
    method: 'POST',
    need: 'ANY',
    request: () => ({ path: api('2.0/mlflow/registered-models/create'), body: { name: `any-${Math.random().toString(36).slice(2)}` } }),
  },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    { row: '2.0/mlflow/registered-models/get', method, need: 'READ', request: (i) => ({ path: q('2.0/mlflow/registered-models/get', { name: i.registered }) }) },
    {
      row: '2.0/mlflow/registered-models/search',
      method,
      need: 'FILTER',
      marker: registeredMarker,
      request: (i) => ({ path: q('2.0/mlflow/registered-models/search', { filter: `name = '${i.registered}'` }) }),
    },
    {
      row: '2.0/mlflow/registered-models/get-latest-versions',
      method,
      need: 'READ',
      request: (i) => ({ path: q('2.0/mlflow/registered-models/get-latest-versions', { name: i.registered }) }),
    },
    {
      row: '2.0/mlflow/model-versions/get',
      method,
      need: 'READ',
      request: (i) => ({ path: q('2.0/mlflow/model-versions/get', { name: i.registered, version: '1' }) }),
    },
    {
      row: '2.0/mlflow/model-versions/get-download-uri',
      method,
      need: 'READ',
      request: (i) => ({ path: q('2.0/mlflow/model-versions/get-download-uri', { name: i.registered, version: '1' }) }),
    },
    {
      row: '2.0/mlflow/model-versions/search',
      method,
      need: 'FILTER',
      marker: registeredMarker,
      request: (i) => ({ path: q('2.0/mlflow/model-versions/search', { filter: `name = '${i.registered}'` }) }),
    },
    // A Flask handler reading request.args (the UI's model version page).
    {
      row: '/model-versions/get-artifact',
      method,
      need: 'READ',
      request: (i) => ({ path: `/model-versions/get-artifact?${new URLSearchParams({ name: i.registered, version: '1', path: 'MLmodel' }).toString()}` }),
    },
  ]),
  {
    row: '2.0/mlflow/registered-models/get-latest-versions',
    method: 'POST',
    need: 'READ',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/get-latest-versions'), body: { name: i.registered } }),
  },
  {
    row: '2.0/mlflow/registered-models/update',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/update'), body: { name: i.registered, description: 'levels' } }),
  },
  {
    row: '2.0/mlflow/registered-models/set-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/set-tag'), body: { name: i.registered, key: 't', value: 'v' } }),
  },
  {
    row: '2.0/mlflow/registered-models/delete-tag',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/delete-tag'), body: { name: i.registered, key: 't' } }),
  },
  {
    row: '2.0/mlflow/registered-models/alias',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/alias'), body: { name: i.registered, alias: 'champion', version: '1' } }),
  },
  ...['GET', 'HEAD'].map((method): RealRowCase => ({
    row: '2.0/mlflow/registered-models/alias',
    method,
    need: 'READ',
    request: (i) => ({ path: q('2.0/mlflow/registered-models/alias', { name: i.registered, alias: 'champion' }) }),
  })),
  {
    row: '2.0/mlflow/registered-models/alias',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/alias'), body: { name: i.registered, alias: 'champion' } }),
  },
  {
    row: '2.0/mlflow/model-versions/create',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({
      path: api('2.0/mlflow/model-versions/create'),
      body: { name: i.registered, source: `models:/${i.model}`, model_id: i.model, run_id: i.run },
    }),
  },
  {
    row: '2.0/mlflow/model-versions/update',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/model-versions/update'), body: { name: i.registered, version: '1', description: 'levels' } }),
  },
  {
    row: '2.0/mlflow/model-versions/transition-stage',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({
      path: api('2.0/mlflow/model-versions/transition-stage'),
      body: { name: i.registered, version: '1', stage: 'Staging', archive_existing_versions: false },
    }),
  },
  {
    row: '2.0/mlflow/model-versions/set-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/model-versions/set-tag'), body: { name: i.registered, version: '1', key: 't', value: 'v' } }),
  },
  {
    row: '2.0/mlflow/model-versions/delete-tag',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/model-versions/delete-tag'), body: { name: i.registered, version: '1', key: 't' } }),
  },
  {
    row: '2.0/mlflow/model-versions/delete',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/model-versions/delete'), body: { name: i.registered, version: '2' } }),
  },
  {
    row: '2.0/mlflow/registered-models/rename',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/rename'), body: { name: i.registered, new_name: RENAMED(i) } }),
  },
  // The grants followed the model to its new name.
  {
    row: '2.0/mlflow/registered-models/delete',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/registered-models/delete'), body: { name: RENAMED(i) } }),
  },
];

/** In order: what a case changes (a tag, the status, a deletion) leaves the next ones possible. */
export const REAL_ROW_CASES: RealRowCase[] = [
  {
    row: '2.0/mlflow/logged-models',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/logged-models'), body: { experiment_id: i.experiment, name: 'level-model', source_run_id: i.run } }),
  },
  {
    row: '2.0/mlflow/logged-models/search',
    method: 'POST',
    need: 'FILTER',
    request: (i) => ({ path: api('2.0/mlflow/logged-models/search'), body: { experiment_ids: [i.experiment] } }),
  },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    { row: '2.0/mlflow/logged-models/{model_id}', method, need: 'READ', request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}`) }) },
    {
      row: '2.0/mlflow/logged-models/{model_id}/artifacts/directories',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}/artifacts/directories`) }),
    },
    // The UI's model page (ajax only): a Flask handler reading request.args.
    {
      row: '2.0/mlflow/logged-models/{model_id}/artifacts/files',
      method,
      need: 'READ',
      request: (i) => ({ path: ajax(`2.0/mlflow/logged-models/${i.model}/artifacts/files?artifact_file_path=MLmodel`) }),
    },
  ]),
  {
    row: '2.0/mlflow/logged-models/{model_id}/params',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}/params`), body: { model_id: i.model, params: [{ key: 'p', value: '1' }] } }),
  },
  {
    row: '2.0/mlflow/logged-models/{model_id}/tags',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}/tags`), body: { tags: [{ key: 't', value: 'v' }] } }),
  },
  {
    row: '2.0/mlflow/logged-models/{model_id}/tags/{tag_key}',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}/tags/t`) }),
  },
  {
    row: '2.0/mlflow/logged-models/{model_id}',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}`), body: { model_id: i.model, status: 'LOGGED_MODEL_READY' } }),
  },
  {
    row: '2.0/mlflow/runs/outputs',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/outputs'), body: { run_id: i.run, models: [{ model_id: i.model, step: 0 }] } }),
  },
  ...SERVER_INFO_CASES,
  ...REGISTRY_CASES,
  // Datasets, searched by experiment: the run's inputs (endpoint-levels logs levels-data) and evaluation datasets (levels-eval).
  {
    row: '2.0/mlflow/experiments/search-datasets',
    method: 'POST',
    need: 'FILTER',
    marker: () => '"levels-data"',
    // MLflow serves it under /ajax-api only (the UI's path); under /api it answers "not implemented".
    request: (i) => ({ path: ajax('2.0/mlflow/experiments/search-datasets'), body: { experiment_ids: [i.experiment] } }),
  },
  {
    row: '3.0/mlflow/datasets/search',
    method: 'POST',
    need: 'FILTER',
    marker: () => '"levels-eval"',
    request: (i) => ({ path: ajax('3.0/mlflow/datasets/search'), body: { experiment_ids: [i.experiment], max_results: 10 } }),
  },
  // GraphQL, decided per field: one document asking the four fields the UI asks, each on what it reads.
  { row: '/graphql', method: 'POST', need: 'READ', request: (i) => ({ path: '/graphql', body: UI_FIELDS(i) }) },
  ...TRACE_CASES,
  ...SCORER_CASES,
  ...WEBHOOK_CASES,
  ...DATASET_CASES,
  { row: '2.0/mlflow/logged-models/{model_id}', method: 'DELETE', need: 'MANAGE', request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}`) }) },
];
