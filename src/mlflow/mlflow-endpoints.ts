import type { MlflowPermissionLevel } from '../config/app-config';
import { field, type MessageFields, type Spelling } from './mlflow-fields';
import { SCORER_ENDPOINTS, WEBHOOK_ENDPOINTS, type ScorerRule } from './mlflow-scorer-endpoints';
import { DATASET_ENDPOINTS } from './mlflow-dataset-endpoints';
import { TRACE_ENDPOINTS } from './mlflow-trace-endpoints';

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
  | { op: 'artifact-list' }
  /** A logged model (MLflow 3) named by the path's `{model_id}`, decided on its experiment; the need depends on the method. */
  | { op: 'model'; need: Readonly<Record<string, MlflowPermissionLevel>> }
  /** EDIT on `experiment_id`; a `source_run_id` must be a run of that experiment. */
  | { op: 'create-model' }
  /** Requested experiment ids narrowed to the readable ones, logged models filtered too. */
  | { op: 'search-models' }
  /**
   * A registered model (or prompt: MLflow keeps prompts as registered models) named by the request's
   * `name`, with registered-model permissions; `after` keeps its grants in step with MLflow: gone when
   * the model is deleted, moved to `new_name` when it is renamed.
   */
  | { op: 'registered-model'; need: LevelNeed; after?: 'delete' | 'rename' }
  /** Any authenticated caller; the creator gets MANAGE on the new registered model. */
  | { op: 'create-registered-model' }
  /** EDIT on the registered model `name`, READ on what the version is made from (`source`, `run_id`, `model_id`). */
  | { op: 'create-model-version' }
  /** Results filtered to the registered models the caller may read, pages refilled. */
  | { op: 'search-registered-models' }
  /** Results filtered to the versions of registered models the caller may read, pages refilled. */
  | { op: 'search-model-versions' }
  /** Any authenticated caller: what the server supports, nothing of anyone's (server-info). */
  | { op: 'authenticated' }
  /**
   * Answered by the BFF itself, never forwarded: who the caller is (MLflow's basic-auth shape), and the
   * answers of an MLflow without an AI gateway or an assistant provider (the UI asks at start).
   */
  | { op: 'answer'; answer: BffAnswer }
  /** Dataset searches (runs' inputs, evaluation datasets), narrowed and filtered: mlflow-dataset-endpoints.ts. */
  | { op: 'search-datasets' }
  /** An evaluation dataset (`{dataset_id}`), on every experiment it is linked to (and those named): mlflow-datasets.ts. */
  | { op: 'dataset'; need: LevelNeed; experiments?: 'link' | 'unlink' }
  /** EDIT on every one of `experiment_ids` (at least one); the caller is the dataset's mlflow.user. */
  | { op: 'create-dataset' }
  /** MLflow's GraphQL endpoint, decided per query field and argument (mlflow-graphql.ts). */
  | { op: 'graphql' }
  /**
   * A trace (MLflow 3), named by the path's `{trace_id}` or the request's `trace_id`, decided on its
   * experiment; a `trace_id` in the body (an assessment's too) must be the path's.
   */
  | { op: 'trace'; need: LevelNeed }
  /** Every trace of `trace_ids`, each decided on its experiment; every `experiment_ids` readable. */
  | { op: 'traces'; need: LevelNeed }
  /**
   * EDIT on the trace's experiment (trace.trace_info.trace_location); a trace id already used must be
   * of that experiment, and the run and logged model its metadata names (mlflow.sourceRun, mlflow.modelId) too.
   */
  | { op: 'start-trace' }
  /** The locations narrowed to readable experiments, results filtered too, pages refilled. */
  | { op: 'search-traces' }
  /** READ on every one of `experiment_ids` (none: refused), as MLflow's auth app decides QueryTraceMetrics. */
  | { op: 'trace-metrics' }
  | ScorerRule; // scorers and webhooks (mlflow-scorer-endpoints.ts)

/** What the BFF answers itself (mlflow-rest.ts). */
export type BffAnswer = 'current-user' | 'gateway-proxy' | 'assistant-config' | 'assistant-providers';

/** The level a row needs: one for every method, or one per method. */
export type LevelNeed = MlflowPermissionLevel | Readonly<Record<string, MlflowPermissionLevel>>;

/** The level a row needs for a method (MANAGE for a method it does not name: fail closed). */
export function needOf(need: LevelNeed, method: string): MlflowPermissionLevel {
  return typeof need === 'string' ? need : (need[method] ?? 'MANAGE');
}

export interface RestEndpoint {
  methods: readonly string[];
  rule: RestRule;
  /** The fields MLflow reads from this request (proto names); anything else is refused. */
  fields: MessageFields;
  /** How MLflow reads them (default: as a protobuf message, both spellings). */
  spelling?: Spelling;
  /** The fields of one method, where they differ from `fields` (a row whose path serves several RPCs). */
  methodFields?: Readonly<Record<string, MessageFields>>;
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
 * A metric of log-batch. `run_id` (MLflow 3 clients set it) must be the request's run, `model_id` a
 * logged model of the run's experiment.
 */
const METRIC = message({
  key: string,
  value: double,
  timestamp: int,
  step: int,
  dataset_name: string,
  dataset_digest: string,
  run_id: string,
  model_id: string,
});
const MODEL_PARAM = message({ key: string, value: string });
/** A logged model's need by method: read, finalize (PATCH), delete. */
const MODEL_LEVELS = { GET: 'READ', HEAD: 'READ', POST: 'EDIT', PATCH: 'EDIT', DELETE: 'MANAGE' } as const;
const MODEL_STATUS = enumOf('LOGGED_MODEL_STATUS_UNSPECIFIED', 'LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED');
const NAME = { name: string };
const VERSION = { name: string, version: string };
const registered = (need: LevelNeed, after?: 'delete' | 'rename'): RestRule => ({ op: 'registered-model', need, ...(after ? { after } : {}) });
const REGISTRY_SEARCH = { filter: string, max_results: int, order_by: list(string), page_token: string };
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
 * the model registry, …) is a new row. Anything not listed is refused: fail closed. The model
 * registry's rows are decided on registered-model permissions (the same levels and grants, by name).
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
  // MLflow 3: the logged models a run produced (each must be a logged model of the run's experiment).
  '2.0/mlflow/runs/outputs': { methods: POST, rule: edit('run'), fields: { ...RUN, models: list(message({ model_id: string, step: int })) } },
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
  // MLflow 3's logged models: decided on the experiment each belongs to.
  '2.0/mlflow/logged-models': {
    methods: POST,
    rule: { op: 'create-model' },
    fields: { ...EXPERIMENT, name: string, model_type: string, source_run_id: string, params: list(MODEL_PARAM), tags: list(TAG) },
  },
  '2.0/mlflow/logged-models/search': {
    methods: POST,
    rule: { op: 'search-models' },
    fields: {
      experiment_ids: list(string),
      filter: string,
      datasets: list(message({ dataset_name: string, dataset_digest: string })),
      max_results: int,
      order_by: list(message({ field_name: string, ascending: field.bool, dataset_name: string, dataset_digest: string })),
      page_token: string,
    },
  },
  '2.0/mlflow/logged-models/{model_id}': {
    methods: [...GET, 'PATCH', 'DELETE'],
    rule: { op: 'model', need: MODEL_LEVELS },
    fields: {},
    // MLflow's finalize reads model_id from the body (the BFF sets it to the path's).
    methodFields: { GET: { allow_deleted: field.bool }, HEAD: { allow_deleted: field.bool }, PATCH: { model_id: string, status: MODEL_STATUS } },
  },
  '2.0/mlflow/logged-models/{model_id}/params': {
    methods: POST,
    rule: { op: 'model', need: MODEL_LEVELS },
    fields: { model_id: string, params: list(MODEL_PARAM) },
  },
  '2.0/mlflow/logged-models/{model_id}/tags': { methods: ['PATCH'], rule: { op: 'model', need: MODEL_LEVELS }, fields: { tags: list(TAG) } },
  '2.0/mlflow/logged-models/{model_id}/tags/{tag_key}': { methods: ['DELETE'], rule: { op: 'model', need: { DELETE: 'EDIT' } }, fields: {} },
  '2.0/mlflow/logged-models/{model_id}/artifacts/directories': {
    methods: GET,
    rule: { op: 'model', need: MODEL_LEVELS },
    fields: { artifact_directory_path: string },
  },
  // A Flask handler reading request.args (the UI's model page).
  '2.0/mlflow/logged-models/{model_id}/artifacts/files': {
    methods: GET,
    rule: { op: 'model', need: MODEL_LEVELS },
    fields: { artifact_file_path: string },
    spelling: 'args',
  },
  // The model registry (and prompts, which MLflow keeps as registered models): registered-model permissions.
  '2.0/mlflow/registered-models/create': {
    methods: POST,
    rule: { op: 'create-registered-model' },
    fields: { ...NAME, tags: list(TAG), description: string, deployment_job_id: string },
  },
  '2.0/mlflow/registered-models/get': { methods: GET, rule: registered('READ'), fields: NAME },
  '2.0/mlflow/registered-models/search': { methods: GET, rule: { op: 'search-registered-models' }, fields: REGISTRY_SEARCH },
  '2.0/mlflow/registered-models/get-latest-versions': { methods: [...GET, 'POST'], rule: registered('READ'), fields: { ...NAME, stages: list(string) } },
  '2.0/mlflow/registered-models/update': { methods: ['PATCH'], rule: registered('EDIT'), fields: { ...NAME, description: string, deployment_job_id: string } },
  '2.0/mlflow/registered-models/rename': { methods: POST, rule: registered('EDIT', 'rename'), fields: { ...NAME, new_name: string } },
  '2.0/mlflow/registered-models/set-tag': { methods: POST, rule: registered('EDIT'), fields: { ...NAME, key: string, value: string } },
  '2.0/mlflow/registered-models/delete-tag': { methods: ['DELETE'], rule: registered('EDIT'), fields: { ...NAME, key: string } },
  '2.0/mlflow/registered-models/delete': { methods: ['DELETE'], rule: registered('MANAGE', 'delete'), fields: NAME },
  '2.0/mlflow/registered-models/alias': {
    methods: [...GET, 'POST', 'DELETE'],
    rule: registered({ GET: 'READ', HEAD: 'READ', POST: 'EDIT', DELETE: 'MANAGE' }),
    fields: { ...NAME, alias: string },
    methodFields: { POST: { ...NAME, alias: string, version: string } },
  },
  '2.0/mlflow/model-versions/create': {
    methods: POST,
    rule: { op: 'create-model-version' },
    fields: { ...NAME, source: string, run_id: string, tags: list(TAG), run_link: string, description: string, model_id: string },
  },
  '2.0/mlflow/model-versions/get': { methods: GET, rule: registered('READ'), fields: VERSION },
  '2.0/mlflow/model-versions/get-download-uri': { methods: GET, rule: registered('READ'), fields: VERSION },
  '2.0/mlflow/model-versions/search': { methods: GET, rule: { op: 'search-model-versions' }, fields: REGISTRY_SEARCH },
  '2.0/mlflow/model-versions/update': { methods: ['PATCH'], rule: registered('EDIT'), fields: { ...VERSION, description: string } },
  '2.0/mlflow/model-versions/transition-stage': {
    methods: POST,
    rule: registered('EDIT'),
    fields: { ...VERSION, stage: string, archive_existing_versions: field.bool },
  },
  '2.0/mlflow/model-versions/set-tag': { methods: POST, rule: registered('EDIT'), fields: { ...VERSION, key: string, value: string } },
  '2.0/mlflow/model-versions/delete-tag': { methods: ['DELETE'], rule: registered('MANAGE'), fields: { ...VERSION, key: string } },
  '2.0/mlflow/model-versions/delete': { methods: ['DELETE'], rule: registered('MANAGE'), fields: VERSION },
  // MLflow 3: what the server supports (the Python client asks before logging spans).
  '3.0/mlflow/server-info': { methods: GET, rule: { op: 'authenticated' }, fields: {} },
  ...TRACE_ENDPOINTS,
  ...SCORER_ENDPOINTS,
  ...WEBHOOK_ENDPOINTS,
  // A Flask handler reading request.args (the UI's model version page, `models:/` downloads).
  '/model-versions/get-artifact': { methods: GET, rule: registered('READ'), fields: { ...VERSION, path: string }, spelling: 'args' },
  ...DATASET_ENDPOINTS,
  // The BFF's user, in the shape MLflow's basic-auth app answers (the UI asks who is signed in).
  '2.0/mlflow/users/current': { methods: ['GET'], rule: { op: 'answer', answer: 'current-user' }, fields: {} },
  // MLflow without MLFLOW_DEPLOYMENTS_TARGET answers an empty gateway; the BFF never lets MLflow call one for a user.
  '2.0/mlflow/gateway-proxy': { methods: ['GET'], rule: { op: 'answer', answer: 'gateway-proxy' }, fields: { gateway_path: string }, spelling: 'args' },
  // MLflow's assistant trusts a caller from localhost (as every request through the BFF is) to run local tools: never
  // forwarded; the UI gets what MLflow answers a remote caller when no provider is set up.
  '3.0/mlflow/assistant/config': { methods: ['GET'], rule: { op: 'answer', answer: 'assistant-config' }, fields: {} },
  '3.0/mlflow/assistant/providers': { methods: ['GET'], rule: { op: 'answer', answer: 'assistant-providers' }, fields: {} },
  // GraphQL (the UI's experiment and run pages): the body is a GraphQL request, decided field by field in mlflow-graphql.ts.
  '/graphql': { methods: POST, rule: { op: 'graphql' }, fields: {} },
  // A Flask handler reading request.args: names as spelled.
  '/get-artifact': { methods: GET, rule: read('run'), fields: { ...RUN, path: string }, spelling: 'args' },
} satisfies Record<string, RestEndpoint>);

const API_PREFIX = /^\/(?:api|ajax-api)\/(.+)$/;

export interface MatchedEndpoint extends RestEndpoint {
  /** The table key, e.g. `2.0/mlflow/runs/get`, `2.0/mlflow-artifacts/artifacts/*`, `/get-artifact`. */
  name: string;
  /** For `/*` rows: the path below the row's prefix (decoded, normalised). */
  rest?: string;
  /** For rows with `{name}` segments: each segment's value (one whole path segment, decoded). */
  params?: Record<string, string>;
}

/** Rows with `{name}` segments, as regular expressions over the key (one segment each). */
const PATTERNS = Object.keys(REST_ENDPOINTS)
  .filter((name) => name.includes('{'))
  .map((name) => {
    const names: string[] = [];
    const source = name
      .split('/')
      .map((segment) => {
        const m = /^\{([a-z_]+)\}$/.exec(segment);
        if (!m) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
        names.push(m[1]);
        return '([^/]+)';
      })
      .join('/');
    return { name, names, re: new RegExp(`^${source}$`) };
  });

/** The endpoint a normalised MLflow path names, or undefined (refused). */
export function matchRestEndpoint(path: string): MatchedEndpoint | undefined {
  const api = API_PREFIX.exec(path);
  const key = api ? api[1] : path;
  const exact = Object.hasOwn(REST_ENDPOINTS, key) ? REST_ENDPOINTS[key] : undefined;
  if (exact) return { name: key, ...exact };
  for (const { name, names, re } of PATTERNS) {
    const m = re.exec(key);
    if (m) return { name, ...REST_ENDPOINTS[name], params: Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) };
  }
  for (const [name, endpoint] of Object.entries(REST_ENDPOINTS)) {
    if (!name.endsWith('/*')) continue;
    const prefix = name.slice(0, -1);
    if (key.startsWith(prefix) && key.length > prefix.length) return { name, ...endpoint, rest: key.slice(prefix.length) };
  }
  return undefined;
}

/**
 * Where MLflow reads a call's parameters: the query for GET and HEAD and for artifact bodies, the
 * JSON body otherwise (a DELETE's too: MLflow's handlers read request.args on GET only).
 */
export function paramsInQuery(method: string, rule?: RestRule): boolean {
  return method === 'GET' || method === 'HEAD' || rule?.op === 'artifact';
}

export const EXPERIMENT_ID = /^[0-9]{1,19}$/;
export const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A trace's id (MLflow 3 makes `tr-` and 32 hex digits). */
export const TRACE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A logged model's id (MLflow 3 makes `m-` and 32 hex digits). */
export const MODEL_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A registered model's name: MLflow refuses `/` and `:`; control characters are refused too. */
export const REGISTERED_MODEL_NAME = /^[^/:\p{Cc}]{1,256}$/u;
export const MLFLOW_USER_TAG = 'mlflow.user';
