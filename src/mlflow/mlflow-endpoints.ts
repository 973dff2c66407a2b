import type { MlflowPermissionLevel } from '../config/app-config';
import { field, type MessageFields, type Spelling } from './mlflow-fields';

/**
 * What a REST call needs, and where the request names what it acts on. The fields named here
 * (`experiment_id`, `run_id` / `run_uuid`, …) are proto names: the request is read into its
 * row's fields first (mlflow-fields.ts), so a camelCase spelling is the same field.
 */
export type RestRule =
  /** `experiment_id` of the request. */
  | { op: 'experiment'; need: MlflowPermissionLevel }
  /** `run_id` (or `run_uuid`) of the request, resolved to its experiment; `identity` rewrites mlflow.user. */
  | { op: 'run'; need: MlflowPermissionLevel; identity?: 'set-tag' | 'log-batch' | 'delete-tag' }
  /** Every run id in a repeated parameter. */
  | { op: 'runs'; need: MlflowPermissionLevel; param: 'run_ids' | 'run_id' }
  /** Any authenticated caller; the creator gets MANAGE on the new experiment. */
  | { op: 'create-experiment' }
  /** EDIT on the experiment; the run carries the caller as mlflow.user. */
  | { op: 'create-run' }
  /** The experiment MLflow answers with must be readable. */
  | { op: 'get-by-name' }
  /** Results filtered to the experiments the caller may read. */
  | { op: 'search-experiments' }
  /** Requested experiment ids narrowed to the readable ones, results filtered too. */
  | { op: 'search-runs' }
  /** mlflow-artifacts: the experiment is the first segment of the artifact path; the need depends on the method. */
  | { op: 'artifact'; need: Readonly<Record<string, MlflowPermissionLevel>> }
  /** GET mlflow-artifacts/artifacts?path=: the experiment is the first segment of `path`. */
  | { op: 'artifact-list' };

export interface RestEndpoint {
  methods: readonly string[];
  rule: RestRule;
  /** The fields MLflow reads from this request (proto names); anything else is refused. */
  fields: MessageFields;
  /** How MLflow reads them (default: as a protobuf message, both spellings). */
  spelling?: Spelling;
}

const GET = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;
const read = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'READ' });
const edit = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'EDIT' });
const manage = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'MANAGE' });

const { string, int, double, enumOf, message, list } = field;
const VIEW_TYPE = enumOf('ACTIVE_ONLY', 'DELETED_ONLY', 'ALL');
const RUN_STATUS = enumOf('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED');
const TAG = message({ key: string, value: string });
const EXPERIMENT = { experiment_id: string };
/** A run: `run_uuid` (its older name, which MLflow 1 clients still send) is decided as `run_id` and forwarded as `run_id`. */
const RUN = { run_id: string, run_uuid: string };
/**
 * A metric of log-batch. `run_id` (MLflow 3 clients set it) must be the request's run. `model_id`
 * (a logged model) is not accepted: the BFF does not decide on logged models yet.
 */
const METRIC = message({ key: string, value: double, timestamp: int, step: int, dataset_name: string, dataset_digest: string, run_id: string });
const DATASET_INPUT = message({
  tags: list(TAG),
  dataset: message({ name: string, digest: string, source_type: string, source: string, schema: string, profile: string }),
});

/**
 * The MLflow REST endpoints the BFF lets through, with the permission each needs — as MLflow's
 * own basic-auth plugin assigns them (read: READ, update: EDIT, delete and manage: MANAGE) — and
 * the fields each request may carry. Keys are the path after `/api/` or `/ajax-api/` (MLflow
 * serves both, the UI uses the second), or an absolute MLflow path (`/get-artifact`); a key
 * ending in `/*` takes any path below it. A new endpoint of a family the BFF decides on (API 3.0,
 * the model registry, …) is a new row. Anything not listed is refused: fail closed, including the
 * model registry, whose permissions the BFF does not manage.
 */
export const REST_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  '2.0/mlflow/experiments/create': { methods: POST, rule: { op: 'create-experiment' }, fields: { name: string, artifact_location: string, tags: list(TAG) } },
  '2.0/mlflow/experiments/get': { methods: GET, rule: read('experiment'), fields: EXPERIMENT },
  '2.0/mlflow/experiments/get-by-name': { methods: GET, rule: { op: 'get-by-name' }, fields: { experiment_name: string } },
  '2.0/mlflow/experiments/search': {
    methods: [...GET, 'POST'],
    rule: { op: 'search-experiments' },
    fields: { max_results: int, page_token: string, filter: string, order_by: list(string), view_type: VIEW_TYPE },
  },
  '2.0/mlflow/experiments/update': { methods: POST, rule: edit('experiment'), fields: { ...EXPERIMENT, new_name: string } },
  '2.0/mlflow/experiments/set-experiment-tag': { methods: POST, rule: edit('experiment'), fields: { ...EXPERIMENT, key: string, value: string } },
  '2.0/mlflow/experiments/delete-experiment-tag': { methods: POST, rule: edit('experiment'), fields: { ...EXPERIMENT, key: string } },
  '2.0/mlflow/experiments/delete': { methods: POST, rule: manage('experiment'), fields: EXPERIMENT },
  '2.0/mlflow/experiments/restore': { methods: POST, rule: manage('experiment'), fields: EXPERIMENT },
  '2.0/mlflow/runs/create': {
    methods: POST,
    rule: { op: 'create-run' },
    fields: { ...EXPERIMENT, user_id: string, run_name: string, start_time: int, tags: list(TAG) },
  },
  '2.0/mlflow/runs/get': { methods: GET, rule: read('run'), fields: RUN },
  '2.0/mlflow/runs/search': {
    methods: POST,
    rule: { op: 'search-runs' },
    fields: { experiment_ids: list(string), filter: string, run_view_type: VIEW_TYPE, max_results: int, order_by: list(string), page_token: string },
  },
  '2.0/mlflow/runs/update': { methods: POST, rule: edit('run'), fields: { ...RUN, status: RUN_STATUS, end_time: int, run_name: string } },
  '2.0/mlflow/runs/log-metric': {
    methods: POST,
    rule: edit('run'),
    fields: { ...RUN, key: string, value: double, timestamp: int, step: int, dataset_name: string, dataset_digest: string },
  },
  '2.0/mlflow/runs/log-parameter': { methods: POST, rule: edit('run'), fields: { ...RUN, key: string, value: string } },
  '2.0/mlflow/runs/log-batch': {
    methods: POST,
    rule: { op: 'run', need: 'EDIT', identity: 'log-batch' },
    fields: { ...RUN, metrics: list(METRIC), params: list(message({ key: string, value: string })), tags: list(TAG) },
  },
  '2.0/mlflow/runs/log-model': { methods: POST, rule: edit('run'), fields: { ...RUN, model_json: string } },
  '2.0/mlflow/runs/log-inputs': { methods: POST, rule: edit('run'), fields: { ...RUN, datasets: list(DATASET_INPUT) } },
  '2.0/mlflow/runs/set-tag': { methods: POST, rule: { op: 'run', need: 'EDIT', identity: 'set-tag' }, fields: { ...RUN, key: string, value: string } },
  '2.0/mlflow/runs/delete-tag': { methods: POST, rule: { op: 'run', need: 'EDIT', identity: 'delete-tag' }, fields: { ...RUN, key: string } },
  '2.0/mlflow/runs/delete': { methods: POST, rule: manage('run'), fields: RUN },
  '2.0/mlflow/runs/restore': { methods: POST, rule: manage('run'), fields: RUN },
  '2.0/mlflow/metrics/get-history': {
    methods: GET,
    rule: read('run'),
    fields: { ...RUN, metric_key: string, page_token: string, max_results: int },
  },
  // A Flask handler reading request.args (not a protobuf message): names as spelled.
  '2.0/mlflow/metrics/get-history-bulk': {
    methods: GET,
    rule: { op: 'runs', need: 'READ', param: 'run_id' },
    fields: { run_id: list(string), metric_key: string, max_results: int },
    spelling: 'args',
  },
  '2.0/mlflow/metrics/get-history-bulk-interval': {
    methods: GET,
    rule: { op: 'runs', need: 'READ', param: 'run_ids' },
    fields: { run_ids: list(string), metric_key: string, start_step: int, end_step: int, max_results: int },
  },
  '2.0/mlflow/artifacts/list': { methods: GET, rule: read('run'), fields: { ...RUN, path: string, page_token: string } },
  '2.0/mlflow-artifacts/artifacts': { methods: GET, rule: { op: 'artifact-list' }, fields: { path: string } },
  '2.0/mlflow-artifacts/artifacts/*': {
    methods: [...GET, 'PUT', 'DELETE'],
    rule: { op: 'artifact', need: { GET: 'READ', HEAD: 'READ', PUT: 'EDIT', DELETE: 'MANAGE' } },
    fields: {},
  },
  // A Flask handler reading request.args: names as spelled.
  '/get-artifact': { methods: GET, rule: read('run'), fields: { ...RUN, path: string }, spelling: 'args' },
} satisfies Record<string, RestEndpoint>);

const API_PREFIX = /^\/(?:api|ajax-api)\/(.+)$/;

export interface MatchedEndpoint extends RestEndpoint {
  /** The table key, e.g. `2.0/mlflow/runs/get`, `2.0/mlflow-artifacts/artifacts/*`, `/get-artifact`. */
  name: string;
  /** For `/*` rows: the path below the row's prefix (decoded, normalised). */
  rest?: string;
}

/** The endpoint a normalised MLflow path names, or undefined (refused). */
export function matchRestEndpoint(path: string): MatchedEndpoint | undefined {
  const api = API_PREFIX.exec(path);
  const key = api ? api[1] : path;
  const exact = Object.hasOwn(REST_ENDPOINTS, key) ? REST_ENDPOINTS[key] : undefined;
  if (exact) return { name: key, ...exact };
  for (const [name, endpoint] of Object.entries(REST_ENDPOINTS)) {
    if (!name.endsWith('/*')) continue;
    const prefix = name.slice(0, -1);
    if (key.startsWith(prefix) && key.length > prefix.length) return { name, ...endpoint, rest: key.slice(prefix.length) };
  }
  return undefined;
}

/** Where MLflow reads a call's parameters: the query for GET, HEAD and DELETE and for artifact bodies, the JSON body otherwise. */
export function paramsInQuery(method: string, rule?: RestRule): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'DELETE' || rule?.op === 'artifact';
}

export const EXPERIMENT_ID = /^[0-9]{1,19}$/;
export const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MLFLOW_USER_TAG = 'mlflow.user';
