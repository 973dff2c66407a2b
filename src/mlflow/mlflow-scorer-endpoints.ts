import type { MlflowPermissionLevel } from '../config/app-config';
import type { RestEndpoint } from './mlflow-endpoints';
import { field } from './mlflow-fields';

/**
 * The rows of MLflow 3's scorers (`/api/3.0` and `/ajax-api/3.0`: what `mlflow.genai`'s
 * `Scorer.register`, `list_scorers`, `get_scorer` and `delete_scorer` call) and of the webhooks of the
 * model registry (`/api/2.0` and `/ajax-api/2.0`), with what MLflow 3.17.2's own auth app decides
 * (BEFORE_REQUEST_HANDLERS): registering needs EDIT on the experiment and makes the caller MANAGE of
 * the scorer; reading a scorer needs READ, deleting it (or one of its versions) MANAGE, on the scorer —
 * which the BFF decides on the experiment's level or the registrant's grant (mlflow-scorers.ts); a
 * listing without an experiment is filtered to readable experiments. Webhooks are for admins only
 * (`sender_is_admin`): a caller whose groups give MANAGE on every experiment. Part of the endpoint
 * table (mlflow-endpoints.ts), kept here with the messages they carry.
 */

/** The rules of these rows (part of RestRule, mlflow-endpoints.ts). */
export type ScorerRule =
  /** EDIT on `experiment_id`; the caller becomes MANAGE of the scorer `name` (mlflow-scorers.ts). */
  | { op: 'register-scorer' }
  /** READ on `experiment_id`; `experiment_ids` narrowed to the readable ones; neither: scorers of readable experiments only. */
  | { op: 'list-scorers' }
  /** The scorer `name` of `experiment_id`, at the experiment's level or its registrant's MANAGE; `after: 'delete'` drops its grants with it. */
  | { op: 'scorer'; need: MlflowPermissionLevel; after?: 'delete' }
  /** Online scoring configs by scorer id: every config MLflow answers with must be of a readable experiment. */
  | { op: 'scorer-configs' }
  /** Admins only (MANAGE on every experiment from the caller's groups or roles), as MLflow's auth app decides webhooks. */
  | { op: 'admin' };

const { string, int, enumOf, message, list } = field;
const GET = ['GET', 'HEAD'] as const;
const SCORER = { experiment_id: string, name: string };

const WEBHOOK_EVENT = message({
  entity: enumOf(
    'ENTITY_UNSPECIFIED',
    'REGISTERED_MODEL',
    'MODEL_VERSION',
    'MODEL_VERSION_TAG',
    'MODEL_VERSION_ALIAS',
    'PROMPT',
    'PROMPT_VERSION',
    'PROMPT_TAG',
    'PROMPT_VERSION_TAG',
    'PROMPT_ALIAS',
    'BUDGET_POLICY',
  ),
  action: enumOf('ACTION_UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED', 'SET', 'EXCEEDED'),
});
/** A webhook as CreateWebhook and UpdateWebhook take it; `secret` signs deliveries (forwarded, never logged). */
const WEBHOOK = {
  name: string,
  description: string,
  url: string,
  events: list(WEBHOOK_EVENT),
  secret: string,
  status: enumOf('ACTIVE', 'DISABLED'),
};

export const SCORER_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  '3.0/mlflow/scorers/register': { methods: ['POST'], rule: { op: 'register-scorer' }, fields: { ...SCORER, serialized_scorer: string } },
  // One experiment (READ on it), several (narrowed to the readable ones), or none: every scorer of the readable experiments.
  '3.0/mlflow/scorers/list': { methods: GET, rule: { op: 'list-scorers' }, fields: { experiment_id: string, experiment_ids: list(string) } },
  '3.0/mlflow/scorers/versions': { methods: GET, rule: { op: 'scorer', need: 'READ' }, fields: SCORER },
  '3.0/mlflow/scorers/get': { methods: GET, rule: { op: 'scorer', need: 'READ' }, fields: { ...SCORER, version: int } },
  // What list_scorers and get_scorer ask next (a Flask handler reading request.args): decided on the configs' experiments.
  // GET only: the handler reads request.args on GET alone (MLflow answers a HEAD 400, its parameters missing).
  '3.0/mlflow/scorers/online-configs': { methods: ['GET'], rule: { op: 'scorer-configs' }, fields: { scorer_ids: list(string) }, spelling: 'args' },
  // Without a version, the scorer and all its versions: its grants go with it.
  '3.0/mlflow/scorers/delete': { methods: ['DELETE'], rule: { op: 'scorer', need: 'MANAGE', after: 'delete' }, fields: { ...SCORER, version: int } },
});

export const WEBHOOK_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  '2.0/mlflow/webhooks': {
    methods: [...GET, 'POST'],
    rule: { op: 'admin' },
    fields: { max_results: int, page_token: string },
    methodFields: { POST: WEBHOOK },
  },
  // MLflow's client sends the path's id in the body of an update too (the request message's field); it must be the path's.
  '2.0/mlflow/webhooks/{webhook_id}': {
    methods: [...GET, 'PATCH', 'DELETE'],
    rule: { op: 'admin' },
    fields: { webhook_id: string },
    methodFields: { PATCH: { webhook_id: string, ...WEBHOOK } },
  },
  '2.0/mlflow/webhooks/{webhook_id}/test': { methods: ['POST'], rule: { op: 'admin' }, fields: { webhook_id: string, event: WEBHOOK_EVENT } },
});
