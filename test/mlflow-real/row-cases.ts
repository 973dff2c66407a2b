/**
 * Level cases of the endpoint table's rows that the sandbox MLflow does not serve (MLflow 3's logged
 * models, runs/outputs): test/mlflow-real/endpoint-levels.spec.ts runs them against the real MLflow,
 * test/integration/mlflow-decisions.spec.ts checks that every row has a case in one of the two lists.
 */
export type Need = 'READ' | 'EDIT' | 'MANAGE' | 'FILTER';

export interface Ids {
  experiment: string;
  run: string;
  model: string;
}

export interface RealRowCase {
  row: string;
  method: string;
  need: Need;
  request: (ids: Ids) => { path: string; body?: unknown };
}

const api = (p: string) => `/api/${p}`;
const ajax = (p: string) => `/ajax-api/${p}`;

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
  { row: '2.0/mlflow/logged-models/{model_id}', method: 'DELETE', need: 'MANAGE', request: (i) => ({ path: api(`2.0/mlflow/logged-models/${i.model}`) }) },
];
