import type { RestEndpoint } from './mlflow-endpoints';
import { field } from './mlflow-fields';

/**
 * The rows of MLflow 3's evaluation datasets (`/api/3.0/mlflow/datasets/…` and `/ajax-api/3.0`: what
 * `mlflow.genai.datasets` calls). A dataset has no grants of its own: as MLflow 3.17.2's auth app and
 * mlflow-oidc-auth decide it, it takes the level of the experiments it is linked to — the caller needs
 * the row's level on every one of them (READ to read it and its records, EDIT to change its tags, records
 * and links, MANAGE to delete it); a dataset linked to none is for the BFF's admins alone (mlflow-datasets.ts).
 * Tags and records travel as JSON text inside the message (MLflow's `json.loads`): the BFF reads them too.
 * Part of the endpoint table (mlflow-endpoints.ts), kept here with the messages they carry.
 */

const { string, int, list } = field;
const GET = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;
const LINKS = { dataset_id: string, experiment_ids: list(string) };

export const DATASET_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  // The datasets runs were logged with (run inputs), per experiment: narrowed to the readable ones, each listed on its own.
  '2.0/mlflow/experiments/search-datasets': { methods: POST, rule: { op: 'search-datasets' }, fields: { experiment_ids: list(string) } },
  // EDIT on every experiment the new dataset is linked to (at least one).
  '3.0/mlflow/datasets/create': { methods: POST, rule: { op: 'create-dataset' }, fields: { name: string, experiment_ids: list(string), tags: string } },
  // Requested experiment ids narrowed to the readable ones; a dataset is listed when every experiment it is linked to is readable.
  '3.0/mlflow/datasets/search': {
    methods: POST,
    rule: { op: 'search-datasets' },
    fields: { experiment_ids: list(string), filter_string: string, max_results: int, order_by: list(string), page_token: string },
  },
  '3.0/mlflow/datasets/{dataset_id}': { methods: [...GET, 'DELETE'], rule: { op: 'dataset', need: { GET: 'READ', HEAD: 'READ', DELETE: 'MANAGE' } }, fields: {} },
  '3.0/mlflow/datasets/{dataset_id}/experiment-ids': { methods: GET, rule: { op: 'dataset', need: 'READ' }, fields: {} },
  '3.0/mlflow/datasets/{dataset_id}/tags': { methods: ['PATCH'], rule: { op: 'dataset', need: 'EDIT' }, fields: { dataset_id: string, tags: string } },
  '3.0/mlflow/datasets/{dataset_id}/tags/{key}': { methods: ['DELETE'], rule: { op: 'dataset', need: 'EDIT' }, fields: {} },
  '3.0/mlflow/datasets/{dataset_id}/records': {
    methods: [...GET, 'POST', 'DELETE'],
    rule: { op: 'dataset', need: { GET: 'READ', HEAD: 'READ', POST: 'EDIT', DELETE: 'EDIT' } },
    // The UI names the dataset in the query too (the path's).
    fields: { dataset_id: string, max_results: int, page_token: string },
    methodFields: { POST: { dataset_id: string, records: string }, DELETE: { dataset_id: string, dataset_record_ids: list(string) } },
  },
  // EDIT on the dataset and on every experiment linked or unlinked (MLflow's auth app asks it of the linked ones only).
  '3.0/mlflow/datasets/{dataset_id}/add-experiments': { methods: POST, rule: { op: 'dataset', need: 'EDIT', experiments: 'link' }, fields: LINKS },
  '3.0/mlflow/datasets/{dataset_id}/remove-experiments': { methods: POST, rule: { op: 'dataset', need: 'EDIT', experiments: 'unlink' }, fields: LINKS },
});
