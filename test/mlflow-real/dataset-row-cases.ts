import type { RealRowCase } from './row-cases';

/**
 * Level cases of MLflow 3's evaluation dataset rows (src/mlflow/mlflow-dataset-endpoints.ts), in the
 * order they run against the real MLflow: `ids.dataset` and `ids.spareDataset` are datasets linked to
 * the test's experiment alone; the first is read, tagged, filled and emptied, linked again and deleted
 * last, the second unlinked (which leaves it linked to nothing: the admins' alone). Part of
 * REAL_ROW_CASES (row-cases.ts).
 */
const api = (p: string) => `/api/${p}`;
const ajax = (p: string) => `/ajax-api/${p}`;
const RECORDS = JSON.stringify([{ inputs: { question: 'levels?' }, expectations: { answer: 'four' } }]);

export const DATASET_CASES: RealRowCase[] = [
  {
    row: '3.0/mlflow/datasets/create',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('3.0/mlflow/datasets/create'), body: { name: 'levels-created', experiment_ids: [i.experiment], tags: '{"k":"v"}' } }),
  },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    { row: '3.0/mlflow/datasets/{dataset_id}', method, need: 'READ', request: (i) => ({ path: ajax(`3.0/mlflow/datasets/${i.dataset}`) }) },
    {
      row: '3.0/mlflow/datasets/{dataset_id}/experiment-ids',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/experiment-ids`) }),
    },
  ]),
  {
    row: '3.0/mlflow/datasets/{dataset_id}/tags',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/tags`), body: { tags: '{"stage":"levels"}' } }),
  },
  {
    row: '3.0/mlflow/datasets/{dataset_id}/tags/{key}',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/tags/stage`) }),
  },
  {
    row: '3.0/mlflow/datasets/{dataset_id}/records',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/records`), body: { records: RECORDS } }),
  },
  ...['GET', 'HEAD'].map((method): RealRowCase => ({
    row: '3.0/mlflow/datasets/{dataset_id}/records',
    method,
    need: 'READ',
    // As the UI asks: the dataset in the query too.
    request: (i) => ({ path: ajax(`3.0/mlflow/datasets/${i.dataset}/records?dataset_id=${i.dataset}&max_results=10`) }),
  })),
  {
    row: '3.0/mlflow/datasets/{dataset_id}/records',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/records`), body: { dataset_record_ids: ['dr-0123456789abcdef0123456789abcdef'] } }),
  },
  {
    row: '3.0/mlflow/datasets/{dataset_id}/add-experiments',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}/add-experiments`), body: { dataset_id: i.dataset, experiment_ids: [i.experiment] } }),
  },
  {
    row: '3.0/mlflow/datasets/{dataset_id}/remove-experiments',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.spareDataset}/remove-experiments`), body: { experiment_ids: [i.experiment] } }),
  },
  { row: '3.0/mlflow/datasets/{dataset_id}', method: 'DELETE', need: 'MANAGE', request: (i) => ({ path: api(`3.0/mlflow/datasets/${i.dataset}`) }) },
];
