/**
 * MLflow 3's logged models (`/api/2.0/mlflow/logged-models…`), as the real tracking server answers them
 * (shapes and errors checked against MLflow 3.17): create, get, finalize, delete, tags, params, search.
 */
import { randomUUID } from 'node:crypto';
import { invalid, likeToRegex, missing, notFound, paginate, required, str, tagsOf, type MlflowTag, type Params } from './mlflow-messages';

export type LoggedModelStatus = 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';
const STATUSES: readonly string[] = ['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED'];

export interface LoggedModel {
  model_id: string;
  experiment_id: string;
  name: string;
  creation_timestamp_ms: number;
  last_updated_timestamp_ms: number;
  artifact_uri: string;
  status: LoggedModelStatus;
  model_type: string;
  /** '' when none (MLflow answers the empty string). */
  source_run_id: string;
  tags: MlflowTag[];
  params: MlflowTag[];
  deleted: boolean;
}

export interface LoggedModelRoute {
  methods: string[];
  run(p: Params): unknown;
}

/** The endpoints, for the emulator's router: `route(endpoint, method)` for an endpoint under /api/2.0/mlflow/. */
export function loggedModels(opts: { activeExperiment(id: string): unknown; presetIds?: string[] }) {
  const models = new Map<string, LoggedModel>();
  const presetIds = [...(opts.presetIds ?? [])];
  let counter = 0;

  const byId = (id: string, allowDeleted = false): LoggedModel => {
    const m = models.get(id);
    if (!m || (m.deleted && !allowDeleted)) throw notFound(`Logged model with ID '${id}' not found.`);
    return m;
  };
  const json = (m: LoggedModel) => {
    const info: Record<string, unknown> = {
      model_id: m.model_id,
      experiment_id: m.experiment_id,
      name: m.name,
      creation_timestamp_ms: m.creation_timestamp_ms,
      last_updated_timestamp_ms: m.last_updated_timestamp_ms,
      artifact_uri: m.artifact_uri,
      status: m.status,
      model_type: m.model_type,
      source_run_id: m.source_run_id,
    };
    if (m.tags.length > 0) info.tags = m.tags;
    return { info, data: m.params.length > 0 ? { params: m.params } : {} };
  };
  const upsert = (list: MlflowTag[], items: MlflowTag[]) => [...list.filter((t) => !items.some((i) => i.key === t.key)), ...items];
  /** MLflow reads model_id from the body of these (the path's is the route's). */
  const bodyModel = (p: Params) => byId(required(p, 'model_id'));

  const create = (p: Params) => {
    const experimentId = required(p, 'experiment_id');
    opts.activeExperiment(experimentId);
    const id = presetIds.shift() ?? `m-${randomUUID().replace(/-/g, '')}`;
    const now = Date.now();
    const model: LoggedModel = {
      model_id: id,
      experiment_id: experimentId,
      name: str(p, 'name') ?? `model-${++counter}`,
      creation_timestamp_ms: now,
      last_updated_timestamp_ms: now,
      artifact_uri: `mlflow-artifacts:/${experimentId}/models/${id}/artifacts`,
      status: 'LOGGED_MODEL_PENDING',
      model_type: str(p, 'model_type') ?? '',
      source_run_id: str(p, 'source_run_id') ?? '',
      tags: tagsOf(p.tags, 'tags'),
      params: tagsOf(p.params, 'params'),
      deleted: false,
    };
    models.set(id, model);
    return { model: json(model) };
  };

  const search = (p: Params) => {
    const ids = (p.experiment_ids ?? []) as unknown[];
    if (!Array.isArray(ids) || ids.length === 0) throw missing('experiment_ids');
    const match = modelFilter(str(p, 'filter'));
    const all = [...models.values()]
      .filter((m) => !m.deleted && ids.includes(m.experiment_id) && match(m))
      .sort((a, b) => b.creation_timestamp_ms - a.creation_timestamp_ms || b.model_id.localeCompare(a.model_id));
    const { page, next } = paginate(all, p, 100);
    return next ? { models: page.map(json), next_page_token: next } : { models: page.map(json) };
  };

  function route(endpoint: string, method: string): LoggedModelRoute | undefined {
    if (endpoint === 'logged-models') return { methods: ['POST'], run: create };
    if (endpoint === 'logged-models/search') return { methods: ['POST'], run: search };
    const m = /^logged-models\/([^/]+)(?:\/(tags|params)(?:\/(.+))?)?$/.exec(endpoint);
    if (!m) return undefined;
    const id = decodeURIComponent(m[1]);
    const [, , sub, key] = m;
    if (!sub) {
      if (method === 'PATCH')
        return {
          methods: ['PATCH'],
          run: (p) => {
            const model = bodyModel(p);
            const status = required(p, 'status');
            if (!STATUSES.includes(status)) throw invalid(`Invalid value ${status} for parameter 'status' supplied.`);
            model.status = status as LoggedModelStatus;
            model.last_updated_timestamp_ms = Date.now();
            return { model: json(model) };
          },
        };
      if (method === 'DELETE')
        return {
          methods: ['DELETE'],
          run: () => {
            const model = byId(id);
            model.deleted = true;
            model.last_updated_timestamp_ms = Date.now();
            return {};
          },
        };
      return { methods: ['GET'], run: (p) => ({ model: json(byId(id, str(p, 'allow_deleted') === 'true')) }) };
    }
    if (sub === 'tags' && key === undefined)
      return {
        methods: ['PATCH'],
        run: (p) => {
          const model = byId(id);
          model.tags = upsert(model.tags, tagsOf(p.tags, 'tags'));
          return {};
        },
      };
    if (sub === 'tags')
      return {
        methods: ['DELETE'],
        run: () => {
          const model = byId(id);
          const tag = decodeURIComponent(key);
          if (!model.tags.some((t) => t.key === tag)) throw notFound(`No tag with key '${tag}' found for model with ID '${id}'.`);
          model.tags = model.tags.filter((t) => t.key !== tag);
          return {};
        },
      };
    if (sub === 'params' && key === undefined)
      return {
        methods: ['POST'],
        run: (p) => {
          const model = bodyModel(p);
          model.params = upsert(model.params, tagsOf(p.params, 'params'));
          return {};
        },
      };
    return undefined;
  }

  return { route, model: (id: string) => models.get(id) };
}

/** `name|status|model_type|source_run_id = | != | LIKE | ILIKE '…'`, `params.k = '…'`, `tags.k = '…'`, joined by AND. */
function modelFilter(filter: string | undefined): (m: LoggedModel) => boolean {
  if (!filter) return () => true;
  const clauses = filter.split(/\s+AND\s+/i).map((c) => {
    const x = /^\s*(?:(params?|tags?)\.(`[^`]+`|[\w.]+)|(?:attributes?\.)?(name|status|model_type|source_run_id))\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$/i.exec(
      c,
    );
    if (!x) throw invalid(`Invalid filter '${filter}'. Could not be parsed.`);
    const value = x[5].replace(/''/g, "'");
    const op = x[4].toUpperCase();
    const get = (m: LoggedModel): string | undefined => {
      if (x[1]) return (x[1].toLowerCase().startsWith('param') ? m.params : m.tags).find((t) => t.key === x[2].replace(/`/g, ''))?.value;
      return (m as unknown as Record<string, string | undefined>)[x[3].toLowerCase()];
    };
    if (op === '=') return (m: LoggedModel) => get(m) === value;
    if (op === '!=') return (m: LoggedModel) => get(m) !== value;
    const re = likeToRegex(value, op === 'ILIKE' ? 'i' : '');
    return (m: LoggedModel) => re.test(get(m) ?? '');
  });
  return (m) => clauses.every((c) => c(m));
}
