import type { MlflowPermissionLevel } from '../config/app-config';

/** What a REST call needs, and where the request names the experiment it acts on. */
export type RestRule =
  /** `experiment_id` of the request. */
  | { op: 'experiment'; need: MlflowPermissionLevel }
  /** `run_id` (or `run_uuid`) of the request, resolved to its experiment; `identity` rewrites mlflow.user. */
  | { op: 'run'; need: MlflowPermissionLevel; identity?: 'set-tag' | 'log-batch' | 'delete-tag' }
  /** Every run id in a repeated query parameter. */
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
  /** mlflow-artifacts: the experiment is the first segment of the artifact path. */
  | { op: 'artifact' }
  /** GET mlflow-artifacts/artifacts?path=: the experiment is the first segment of `path`. */
  | { op: 'artifact-list' };

export interface RestEndpoint {
  methods: readonly string[];
  rule: RestRule;
}

const GET = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;
const read = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'READ' });
const edit = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'EDIT' });
const manage = (op: 'experiment' | 'run'): RestRule => ({ op, need: 'MANAGE' });

/**
 * The MLflow REST endpoints the BFF lets through (under /api/2.0/mlflow/ and the UI's
 * /ajax-api/2.0/mlflow/), with the permission each needs — as MLflow's own basic-auth plugin
 * assigns them (read: READ, update: EDIT, delete and manage: MANAGE). Anything not listed is
 * refused: fail closed, including the model registry, whose permissions the BFF does not manage.
 */
export const REST_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  'experiments/create': { methods: POST, rule: { op: 'create-experiment' } },
  'experiments/get': { methods: GET, rule: read('experiment') },
  'experiments/get-by-name': { methods: GET, rule: { op: 'get-by-name' } },
  'experiments/search': { methods: [...GET, 'POST'], rule: { op: 'search-experiments' } },
  'experiments/update': { methods: POST, rule: edit('experiment') },
  'experiments/set-experiment-tag': { methods: POST, rule: edit('experiment') },
  'experiments/delete-experiment-tag': { methods: POST, rule: edit('experiment') },
  'experiments/delete': { methods: POST, rule: manage('experiment') },
  'experiments/restore': { methods: POST, rule: manage('experiment') },
  'runs/create': { methods: POST, rule: { op: 'create-run' } },
  'runs/get': { methods: GET, rule: read('run') },
  'runs/search': { methods: POST, rule: { op: 'search-runs' } },
  'runs/update': { methods: POST, rule: edit('run') },
  'runs/log-metric': { methods: POST, rule: edit('run') },
  'runs/log-parameter': { methods: POST, rule: edit('run') },
  'runs/log-batch': { methods: POST, rule: { op: 'run', need: 'EDIT', identity: 'log-batch' } },
  'runs/log-model': { methods: POST, rule: edit('run') },
  'runs/log-inputs': { methods: POST, rule: edit('run') },
  'runs/set-tag': { methods: POST, rule: { op: 'run', need: 'EDIT', identity: 'set-tag' } },
  'runs/delete-tag': { methods: POST, rule: { op: 'run', need: 'EDIT', identity: 'delete-tag' } },
  'runs/delete': { methods: POST, rule: manage('run') },
  'runs/restore': { methods: POST, rule: manage('run') },
  'metrics/get-history': { methods: GET, rule: read('run') },
  'metrics/get-history-bulk': { methods: GET, rule: { op: 'runs', need: 'READ', param: 'run_id' } },
  'metrics/get-history-bulk-interval': { methods: GET, rule: { op: 'runs', need: 'READ', param: 'run_ids' } },
  'artifacts/list': { methods: GET, rule: read('run') },
});

const REST_PREFIX = /^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/;
const ARTIFACTS = /^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts(?:\/(.*))?$/;

export interface MatchedEndpoint {
  /** e.g. `runs/get`, `mlflow-artifacts`, `get-artifact`. */
  name: string;
  methods: readonly string[];
  rule: RestRule;
  /** mlflow-artifacts: the artifact path after `artifacts/` (decoded, normalised). */
  artifactPath?: string;
}

/** The endpoint a normalised MLflow path names, or undefined (refused). */
export function matchRestEndpoint(path: string): MatchedEndpoint | undefined {
  const rest = REST_PREFIX.exec(path);
  if (rest) {
    const e = REST_ENDPOINTS[rest[1]];
    return e ? { name: rest[1], ...e } : undefined;
  }
  const artifacts = ARTIFACTS.exec(path);
  if (artifacts) {
    if (artifacts[1] === undefined) return { name: 'mlflow-artifacts', methods: GET, rule: { op: 'artifact-list' } };
    return { name: 'mlflow-artifacts', methods: [...GET, 'PUT', 'DELETE'], rule: { op: 'artifact' }, artifactPath: artifacts[1] };
  }
  if (path === '/get-artifact') return { name: 'get-artifact', methods: GET, rule: read('run') };
  return undefined;
}

/** The permission an artifact call needs: read, write (EDIT) or delete (MANAGE). */
export function artifactNeed(method: string): MlflowPermissionLevel {
  return method === 'PUT' ? 'EDIT' : method === 'DELETE' ? 'MANAGE' : 'READ';
}

/** Where MLflow reads a call's parameters: the query for GET, HEAD and DELETE, the JSON body otherwise. */
export function paramsInQuery(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'DELETE';
}

export const EXPERIMENT_ID = /^[0-9]{1,19}$/;
export const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MLFLOW_USER_TAG = 'mlflow.user';
