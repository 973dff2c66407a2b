/**
 * The scenario list `npm run bench:mlflow-peers` runs through the BFF and through mlflow-oidc-auth: one
 * call per row, made by a user at each permission level (MANAGE, EDIT, READ, none) and without a token.
 * Paths are MLflow's, relative to where each peer serves MLflow (the BFF's /mlflow, mlflow-oidc-auth's root).
 */

/** What a row needs, as MLflow's permission model puts it; LIST: a search whose answer must leave out what the caller may not read. */
export type Need = 'ANY' | 'READ' | 'EDIT' | 'MANAGE' | 'LIST';
export type Level = 'MANAGE' | 'EDIT' | 'READ' | 'NONE';
export const LEVELS: readonly Level[] = ['MANAGE', 'EDIT', 'READ', 'NONE'];

/** The owner's resources every row acts on (made through the peer under test, so each peer knows their owner). */
export interface Ids {
  experiment: string;
  experimentName: string;
  run: string;
  model: string;
  trace: string;
  registered: string;
  prompt: string;
}

export interface Req {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  path: string;
  body?: unknown;
  /** A raw body (artifact uploads), sent as text/plain. */
  raw?: string;
}

export interface Answer {
  status: number;
  text: string;
}

/** What a peer lets the bench do besides MLflow's own calls. */
export interface Peer {
  name: string;
  call(token: string | undefined, req: Req): Promise<Answer>;
  /** Gives `username` the level on a resource of `kind`, as the resource's owner. */
  grant(owner: string, kind: 'experiment' | 'registered-model' | 'prompt', id: string, username: string, level: Exclude<Level, 'NONE'>): Promise<Answer>;
}

export interface Scenario {
  family: string;
  call: string;
  need: Need;
  /** Resources the call consumes (a deletion), made by the owner for each caller before the call; `grant` gives the caller their level on them. */
  prepare?: (
    p: { owner: (req: Req) => Promise<Answer>; grant: (kind: 'experiment' | 'registered-model' | 'prompt', id: string) => Promise<void> },
    ids: Ids,
    tag: string,
  ) => Promise<Record<string, string>>;
  request: (ids: Ids, tag: string, fresh: Record<string, string>) => Req;
  /** How an answer reads; default: 2xx allowed, 401/403 refused, LIST rows by whether the answer names the owner's resource. */
  judge?: (a: Answer, ids: Ids) => Verdict;
  /** What a LIST answer names when it shows the owner's resource: a field and its value (any JSON spacing). */
  shows?: (ids: Ids) => [field: string, value: string];
}

/** allowed, refused, listed / hidden (LIST rows), or the status of anything else. */
export type Verdict = 'allowed' | 'refused' | 'listed' | 'hidden' | `${number}`;

const api = (p: string) => `/api/2.0/mlflow/${p}`;
const api3 = (p: string) => `/api/3.0/mlflow/${p}`;
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const json = (a: Answer): Record<string, unknown> => {
  try {
    return JSON.parse(a.text) as Record<string, unknown>;
  } catch {
    return {};
  }
};

/** A v3 trace's info as StartTraceV3 takes it. */
export function traceInfo(experimentId: string, traceId: string): unknown {
  return {
    trace: {
      trace_info: {
        trace_id: traceId,
        trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } },
        request_time: new Date().toISOString(),
        execution_duration: '0.100s',
        state: 'OK',
        trace_metadata: {},
        tags: {},
      },
    },
  };
}
export const newTraceId = () => `tr-${[...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

const PROMPT_TAG = { key: 'mlflow.prompt.is_prompt', value: 'true' };

/** A registered model (or prompt) the owner makes for one caller, and gives the caller their level on. */
async function freshRegistered(
  p: Parameters<NonNullable<Scenario['prepare']>>[0],
  name: string,
  kind: 'registered-model' | 'prompt',
): Promise<Record<string, string>> {
  await p.owner({ method: 'POST', path: api('registered-models/create'), body: { name, ...(kind === 'prompt' ? { tags: [PROMPT_TAG] } : {}) } });
  await p.grant(kind, name);
  return { name };
}

const graphqlExperiment = (id: string) => ({
  query: `query { mlflowGetExperiment(input: { experimentId: "${id}" }) { experiment { experimentId name } } }`,
});

export const SCENARIOS: Scenario[] = [
  // Experiments.
  {
    family: 'experiments',
    call: 'GET experiments/get',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('experiments/get')}?${q({ experiment_id: i.experiment })}` }),
  },
  {
    family: 'experiments',
    call: 'GET experiments/get-by-name',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('experiments/get-by-name')}?${q({ experiment_name: i.experimentName })}` }),
  },
  {
    family: 'experiments',
    call: 'POST experiments/search',
    need: 'LIST',
    request: () => ({ method: 'POST', path: api('experiments/search'), body: { max_results: 1000 } }),
    shows: (i) => ['experiment_id', i.experiment],
  },
  {
    family: 'experiments',
    call: 'POST experiments/create',
    need: 'ANY',
    request: (_i, t) => ({ method: 'POST', path: api('experiments/create'), body: { name: `made-by-${t}` } }),
  },
  {
    family: 'experiments',
    call: 'POST experiments/set-experiment-tag',
    need: 'EDIT',
    request: (i, t) => ({ method: 'POST', path: api('experiments/set-experiment-tag'), body: { experiment_id: i.experiment, key: `k-${t}`, value: 'v' } }),
  },
  {
    family: 'experiments',
    call: 'POST experiments/delete',
    need: 'MANAGE',
    prepare: async (p, _i, t) => {
      const made = json(await p.owner({ method: 'POST', path: api('experiments/create'), body: { name: `to-delete-${t}` } }));
      await p.grant('experiment', made.experiment_id as string);
      return { experiment: made.experiment_id as string };
    },
    request: (_i, _t, f) => ({ method: 'POST', path: api('experiments/delete'), body: { experiment_id: f.experiment } }),
  },
  // Runs.
  { family: 'runs', call: 'POST runs/create', need: 'EDIT', request: (i) => ({ method: 'POST', path: api('runs/create'), body: { experiment_id: i.experiment } }) },
  { family: 'runs', call: 'GET runs/get', need: 'READ', request: (i) => ({ method: 'GET', path: `${api('runs/get')}?${q({ run_id: i.run })}` }) },
  {
    family: 'runs',
    call: 'POST runs/search',
    need: 'LIST',
    request: (i) => ({ method: 'POST', path: api('runs/search'), body: { experiment_ids: [i.experiment], max_results: 100 } }),
    shows: (i) => ['run_id', i.run],
  },
  {
    family: 'runs',
    call: 'POST runs/set-tag',
    need: 'EDIT',
    request: (i, t) => ({ method: 'POST', path: api('runs/set-tag'), body: { run_id: i.run, key: `k-${t}`, value: 'v' } }),
  },
  {
    family: 'runs',
    call: 'POST runs/delete',
    need: 'MANAGE',
    prepare: async (p, i) => {
      const made = json(await p.owner({ method: 'POST', path: api('runs/create'), body: { experiment_id: i.experiment } }));
      return { run: (made.run as { info: { run_id: string } }).info.run_id };
    },
    request: (_i, _t, f) => ({ method: 'POST', path: api('runs/delete'), body: { run_id: f.run } }),
  },
  // Metrics and params.
  {
    family: 'metrics, params',
    call: 'POST runs/log-metric',
    need: 'EDIT',
    request: (i) => ({ method: 'POST', path: api('runs/log-metric'), body: { run_id: i.run, key: 'loss', value: 0.5, timestamp: Date.now(), step: 1 } }),
  },
  {
    family: 'metrics, params',
    call: 'POST runs/log-parameter',
    need: 'EDIT',
    request: (i, t) => ({ method: 'POST', path: api('runs/log-parameter'), body: { run_id: i.run, key: `p-${t}`, value: '1' } }),
  },
  {
    family: 'metrics, params',
    call: 'POST runs/log-batch',
    need: 'EDIT',
    request: (i) => ({
      method: 'POST',
      path: api('runs/log-batch'),
      body: { run_id: i.run, metrics: [{ key: 'acc', value: 0.9, timestamp: Date.now(), step: 0 }] },
    }),
  },
  {
    family: 'metrics, params',
    call: 'GET metrics/get-history',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('metrics/get-history')}?${q({ run_id: i.run, metric_key: 'loss' })}` }),
  },
  {
    family: 'metrics, params',
    call: 'GET metrics/get-history-bulk-interval',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('metrics/get-history-bulk-interval')}?${q({ run_ids: i.run, metric_key: 'loss', max_results: '10' })}` }),
  },
  // Artifacts (proxied by the server: mlflow-artifacts:/<experiment>/<run>/artifacts).
  {
    family: 'artifacts',
    call: 'PUT mlflow-artifacts/artifacts/…',
    need: 'EDIT',
    request: (i, t) => ({ method: 'PUT', path: `/api/2.0/mlflow-artifacts/artifacts/${i.experiment}/${i.run}/artifacts/up-${t}.txt`, raw: 'uploaded' }),
  },
  { family: 'artifacts', call: 'GET artifacts/list', need: 'READ', request: (i) => ({ method: 'GET', path: `${api('artifacts/list')}?${q({ run_id: i.run })}` }) },
  {
    family: 'artifacts',
    call: 'GET mlflow-artifacts/artifacts/…',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `/api/2.0/mlflow-artifacts/artifacts/${i.experiment}/${i.run}/artifacts/notes.txt` }),
  },
  {
    family: 'artifacts',
    call: 'GET /get-artifact',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `/get-artifact?${q({ run_id: i.run, path: 'notes.txt' })}` }),
  },
  // Logged models (MLflow 3).
  {
    family: 'logged models',
    call: 'POST logged-models',
    need: 'EDIT',
    request: (i, t) => ({ method: 'POST', path: api('logged-models'), body: { experiment_id: i.experiment, name: `m-${t}`, source_run_id: i.run } }),
  },
  { family: 'logged models', call: 'GET logged-models/{id}', need: 'READ', request: (i) => ({ method: 'GET', path: api(`logged-models/${i.model}`) }) },
  {
    family: 'logged models',
    call: 'POST logged-models/search',
    need: 'LIST',
    request: (i) => ({ method: 'POST', path: api('logged-models/search'), body: { experiment_ids: [i.experiment] } }),
    shows: (i) => ['model_id', i.model],
  },
  {
    family: 'logged models',
    call: 'PATCH logged-models/{id}/tags',
    need: 'EDIT',
    request: (i, t) => ({ method: 'PATCH', path: api(`logged-models/${i.model}/tags`), body: { tags: [{ key: `k-${t}`, value: 'v' }] } }),
  },
  {
    family: 'logged models',
    call: 'DELETE logged-models/{id}',
    need: 'MANAGE',
    prepare: async (p, i, t) => {
      const made = json(await p.owner({ method: 'POST', path: api('logged-models'), body: { experiment_id: i.experiment, name: `del-${t}` } }));
      return { model: (made.model as { info: { model_id: string } }).info.model_id };
    },
    request: (_i, _t, f) => ({ method: 'DELETE', path: api(`logged-models/${f.model}`) }),
  },
  // Model registry: permissions on the registered model, granted by its owner.
  {
    family: 'model registry',
    call: 'POST registered-models/create',
    need: 'ANY',
    request: (_i, t) => ({ method: 'POST', path: api('registered-models/create'), body: { name: `rm-${t}` } }),
  },
  {
    family: 'model registry',
    call: 'GET registered-models/get',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('registered-models/get')}?${q({ name: i.registered })}` }),
  },
  {
    family: 'model registry',
    call: 'GET registered-models/search',
    need: 'LIST',
    request: (i) => ({ method: 'GET', path: `${api('registered-models/search')}?${q({ filter: `name = '${i.registered}'` })}` }),
    shows: (i) => ['name', i.registered],
  },
  {
    family: 'model registry',
    call: 'PATCH registered-models/update',
    need: 'EDIT',
    request: (i, t) => ({ method: 'PATCH', path: api('registered-models/update'), body: { name: i.registered, description: `by ${t}` } }),
  },
  {
    family: 'model registry',
    call: 'POST model-versions/create',
    need: 'EDIT',
    request: (i) => ({ method: 'POST', path: api('model-versions/create'), body: { name: i.registered, source: `models:/${i.model}`, model_id: i.model } }),
  },
  {
    family: 'model registry',
    call: 'GET model-versions/get',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('model-versions/get')}?${q({ name: i.registered, version: '1' })}` }),
  },
  {
    family: 'model registry',
    call: 'DELETE registered-models/delete',
    need: 'MANAGE',
    prepare: (p, _i, t) => freshRegistered(p, `rm-del-${t}`, 'registered-model'),
    request: (_i, _t, f) => ({ method: 'DELETE', path: api('registered-models/delete'), body: { name: f.name } }),
  },
  // Traces (MLflow 3's API 3.0).
  {
    family: 'traces',
    call: 'POST 3.0 traces (start)',
    need: 'EDIT',
    request: (i) => ({ method: 'POST', path: api3('traces'), body: traceInfo(i.experiment, newTraceId()) }),
  },
  { family: 'traces', call: 'GET 3.0 traces/{id}', need: 'READ', request: (i) => ({ method: 'GET', path: api3(`traces/${i.trace}`) }) },
  {
    family: 'traces',
    call: 'POST 3.0 traces/search',
    need: 'LIST',
    request: (i) => ({
      method: 'POST',
      path: api3('traces/search'),
      body: { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: i.experiment } }], max_results: 100 },
    }),
    shows: (i) => ['trace_id', i.trace],
  },
  {
    family: 'traces',
    call: 'POST 2.0 traces/delete-traces',
    need: 'MANAGE',
    prepare: async (p, i) => {
      const id = newTraceId();
      await p.owner({ method: 'POST', path: api3('traces'), body: traceInfo(i.experiment, id) });
      return { trace: id };
    },
    request: (i, _t, f) => ({ method: 'POST', path: api('traces/delete-traces'), body: { experiment_id: i.experiment, request_ids: [f.trace] } }),
    // MLflow answers 200 with the number deleted; a refusal that is answered 200 deletes nothing.
    judge: (a) => (a.status === 200 ? (json(a).traces_deleted === 1 ? 'allowed' : 'refused') : a.status === 401 || a.status === 403 ? 'refused' : `${a.status}`),
  },
  // Prompts (registered models tagged mlflow.prompt.is_prompt).
  {
    family: 'prompts',
    call: 'POST registered-models/create (prompt)',
    need: 'ANY',
    request: (_i, t) => ({ method: 'POST', path: api('registered-models/create'), body: { name: `pr-${t}`, tags: [PROMPT_TAG] } }),
  },
  {
    family: 'prompts',
    call: 'GET registered-models/get (prompt)',
    need: 'READ',
    request: (i) => ({ method: 'GET', path: `${api('registered-models/get')}?${q({ name: i.prompt })}` }),
  },
  {
    family: 'prompts',
    call: 'GET registered-models/search (prompts)',
    need: 'LIST',
    request: () => ({ method: 'GET', path: `${api('registered-models/search')}?${q({ filter: "tags.`mlflow.prompt.is_prompt` = 'true'" })}` }),
    shows: (i) => ['name', i.prompt],
  },
  {
    family: 'prompts',
    call: 'POST model-versions/create (prompt version)',
    need: 'EDIT',
    request: (i, t) => ({
      method: 'POST',
      path: api('model-versions/create'),
      body: {
        name: i.prompt,
        source: 'dummy-source',
        tags: [
          { key: 'mlflow.prompt.is_prompt', value: 'true' },
          { key: 'mlflow.prompt.text', value: `Hello {{name}} from ${t}` },
        ],
      },
    }),
  },
  // GraphQL: the experiment page loads the experiment through it; a refusal may be a 200 with errors.
  {
    family: 'graphql',
    call: 'POST /graphql mlflowGetExperiment',
    need: 'READ',
    request: (i) => ({ method: 'POST', path: '/graphql', body: graphqlExperiment(i.experiment) }),
    judge: (a, i) =>
      a.status === 200 ? (a.text.includes(`"${i.experimentName}"`) ? 'allowed' : 'refused') : a.status === 401 || a.status === 403 ? 'refused' : `${a.status}`,
  },
  // What the UI reads at start-up.
  { family: 'server-info', call: 'GET 3.0 server-info', need: 'ANY', request: () => ({ method: 'GET', path: api3('server-info') }) },
];

/** The default reading of an answer. */
export function judge(s: Scenario, a: Answer, ids: Ids): Verdict {
  if (s.judge) return s.judge(a, ids);
  if (a.status === 401 || a.status === 403) return 'refused';
  if (a.status < 200 || a.status > 299) return `${a.status}`;
  if (s.need === 'LIST') {
    const [field, value] = s.shows!(ids);
    const literal = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`"${field}"\\s*:\\s*"${literal}"`).test(a.text) ? 'listed' : 'hidden';
  }
  return 'allowed';
}

const RANK: Record<Level, number> = { NONE: 0, READ: 1, EDIT: 2, MANAGE: 3 };
const NEED_RANK: Record<Exclude<Need, 'LIST'>, number> = { ANY: 0, READ: 1, EDIT: 2, MANAGE: 3 };

/**
 * What MLflow's permission model says the answer should be for a caller at `level` (undefined: no token).
 * A search by a caller who may read nothing there is answered with nothing (hidden) or refused: both are right.
 */
export function expected(need: Need, level: Level | undefined): Verdict {
  if (level === undefined) return 'refused';
  if (need === 'LIST') return RANK[level] >= 1 ? 'listed' : 'hidden';
  return RANK[level] >= NEED_RANK[need] ? 'allowed' : 'refused';
}

/** Whether an answer is what the permission model says. */
export const isRight = (got: Verdict, want: Verdict): boolean => got === want || (want === 'hidden' && got === 'refused');
