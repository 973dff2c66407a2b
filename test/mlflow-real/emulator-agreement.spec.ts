import { startMlflow, type MlflowEmulator } from '../../sandbox/mlflow';
import { uiGraphql } from '../support/mlflow-graphql';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

jest.setTimeout(300_000);

interface Step {
  name: string;
  method: string;
  /** Under the server's root; `{run}` and `{model}` are the ids this server gave. */
  path: string;
  body?: unknown;
}

/**
 * One scenario list, two targets: the same raw REST calls to the real MLflow and to the sandbox's
 * emulator (sandbox/mlflow.ts) answer the same status and the same JSON, once the ids and timestamps
 * each server chose are named instead of compared. A difference is a fault of the emulator (`npm start`
 * must stay a faithful stand-in).
 */
const SCENARIO: Step[] = [
  { name: 'create experiment', method: 'POST', path: '/api/2.0/mlflow/experiments/create', body: { name: 'agreement' } },
  { name: 'create run', method: 'POST', path: '/api/2.0/mlflow/runs/create', body: { experiment_id: '1', run_name: 'r', start_time: 1700000000000 } },
  {
    name: 'log metric',
    method: 'POST',
    path: '/api/2.0/mlflow/runs/log-metric',
    body: { run_id: '{run}', key: 'loss', value: 0.5, timestamp: 1700000000000, step: 2 },
  },
  { name: 'log parameter', method: 'POST', path: '/api/2.0/mlflow/runs/log-parameter', body: { run_id: '{run}', key: 'alpha', value: '0.1' } },
  // The UI's GraphQL documents (the experiment page, the run page, its charts, the evaluation tab).
  { name: 'graphql experiment', method: 'POST', path: '/graphql', body: uiGraphql('MlflowGetExperimentQuery', { input: { experimentId: '1' } }) },
  { name: 'graphql run', method: 'POST', path: '/graphql', body: uiGraphql('GetRun', { data: { runId: '{run}' } }) },
  { name: 'graphql unknown run', method: 'POST', path: '/graphql', body: uiGraphql('GetRun', { data: { runId: '0123456789abcdef0123456789abcdef' } }) },
  { name: 'graphql search runs', method: 'POST', path: '/graphql', body: uiGraphql('SearchRuns', { data: { experimentIds: ['1'] } }) },
  {
    name: 'graphql metric history',
    method: 'POST',
    path: '/graphql',
    body: uiGraphql('GetMetricHistoryBulkInterval', { data: { runIds: ['{run}'], metricKey: 'loss', maxResults: 320 } }),
  },
  {
    name: 'create logged model',
    method: 'POST',
    path: '/api/2.0/mlflow/logged-models',
    body: { experiment_id: '1', name: 'm1', source_run_id: '{run}', params: [{ key: 'a', value: '1' }], tags: [{ key: 't', value: 'v' }] },
  },
  { name: 'create logged model, no name', method: 'POST', path: '/api/2.0/mlflow/logged-models', body: { experiment_id: '1', model_type: 'agent' } },
  { name: 'create logged model, no experiment', method: 'POST', path: '/api/2.0/mlflow/logged-models', body: { name: 'x' } },
  { name: 'get logged model', method: 'GET', path: '/api/2.0/mlflow/logged-models/{model}' },
  { name: 'get unknown logged model', method: 'GET', path: '/api/2.0/mlflow/logged-models/m-0123456789abcdef0123456789abcdef' },
  { name: 'set tags, no body', method: 'PATCH', path: '/api/2.0/mlflow/logged-models/{model}/tags' },
  { name: 'set tags', method: 'PATCH', path: '/api/2.0/mlflow/logged-models/{model}/tags', body: { tags: [{ key: 'u', value: 'w' }] } },
  { name: 'finalize without model_id', method: 'PATCH', path: '/api/2.0/mlflow/logged-models/{model}', body: { status: 'LOGGED_MODEL_READY' } },
  { name: 'finalize', method: 'PATCH', path: '/api/2.0/mlflow/logged-models/{model}', body: { model_id: '{model}', status: 'LOGGED_MODEL_READY' } },
  { name: 'log params', method: 'POST', path: '/api/2.0/mlflow/logged-models/{model}/params', body: { model_id: '{model}', params: [{ key: 'b', value: '2' }] } },
  { name: 'delete tag', method: 'DELETE', path: '/api/2.0/mlflow/logged-models/{model}/tags/t' },
  { name: 'delete missing tag', method: 'DELETE', path: '/api/2.0/mlflow/logged-models/{model}/tags/nope' },
  { name: 'search by name', method: 'POST', path: '/api/2.0/mlflow/logged-models/search', body: { experiment_ids: ['1'], filter: "name = 'm1'" } },
  { name: 'delete logged model', method: 'DELETE', path: '/api/2.0/mlflow/logged-models/{model}' },
  { name: 'get deleted logged model', method: 'GET', path: '/api/2.0/mlflow/logged-models/{model}' },
  // MLflow 3's evaluation datasets (mlflow.genai.datasets).
  {
    name: 'create dataset',
    method: 'POST',
    path: '/api/3.0/mlflow/datasets/create',
    body: { name: 'ds', experiment_ids: ['1'], tags: '{"mlflow.user": "alice", "k": "v"}' },
  },
  { name: 'create dataset, no name', method: 'POST', path: '/api/3.0/mlflow/datasets/create', body: { experiment_ids: ['1'] } },
  { name: 'get dataset', method: 'GET', path: '/ajax-api/3.0/mlflow/datasets/{dataset}' },
  { name: 'get unknown dataset', method: 'GET', path: '/api/3.0/mlflow/datasets/d-0123456789abcdef0123456789abcdef' },
  { name: 'dataset experiments', method: 'GET', path: '/api/3.0/mlflow/datasets/{dataset}/experiment-ids' },
  { name: 'unknown dataset experiments', method: 'GET', path: '/api/3.0/mlflow/datasets/d-0123456789abcdef0123456789abcdef/experiment-ids' },
  {
    name: 'upsert records',
    method: 'POST',
    path: '/api/3.0/mlflow/datasets/{dataset}/records',
    body: { records: JSON.stringify([{ inputs: { q: 'hi' }, expectations: { a: 'hello' }, tags: { 'mlflow.user': 'bob' } }]) },
  },
  {
    name: 'upsert the same inputs',
    method: 'POST',
    path: '/api/3.0/mlflow/datasets/{dataset}/records',
    body: { records: JSON.stringify([{ inputs: { q: 'hi' }, expectations: { b: 2 } }]) },
  },
  { name: 'upsert, no records', method: 'POST', path: '/api/3.0/mlflow/datasets/{dataset}/records', body: {} },
  { name: 'get records', method: 'GET', path: '/api/3.0/mlflow/datasets/{dataset}/records?max_results=10' },
  { name: 'get dataset with records', method: 'GET', path: '/api/3.0/mlflow/datasets/{dataset}' },
  { name: 'set dataset tags', method: 'PATCH', path: '/api/3.0/mlflow/datasets/{dataset}/tags', body: { tags: '{"t2": "v2"}' } },
  { name: 'set dataset tags, no tags', method: 'PATCH', path: '/api/3.0/mlflow/datasets/{dataset}/tags', body: {} },
  { name: 'delete dataset tag', method: 'DELETE', path: '/api/3.0/mlflow/datasets/{dataset}/tags/k' },
  { name: 'delete missing dataset tag', method: 'DELETE', path: '/api/3.0/mlflow/datasets/{dataset}/tags/nope' },
  { name: 'search datasets', method: 'POST', path: '/api/3.0/mlflow/datasets/search', body: { experiment_ids: ['1'] } },
  // mlflow.genai.datasets.search_datasets sends a week's `created_time` filter by default.
  { name: 'search recent datasets', method: 'POST', path: '/api/3.0/mlflow/datasets/search', body: { experiment_ids: ['1'], filter_string: 'created_time >= 0' } },
  { name: 'search datasets by name', method: 'POST', path: '/api/3.0/mlflow/datasets/search', body: { experiment_ids: ['1'], filter_string: "name = 'other'" } },
  {
    name: 'link dataset again',
    method: 'POST',
    path: '/api/3.0/mlflow/datasets/{dataset}/add-experiments',
    body: { dataset_id: '{dataset}', experiment_ids: ['1'] },
  },
  { name: 'link dataset to no experiment', method: 'POST', path: '/api/3.0/mlflow/datasets/{dataset}/add-experiments', body: { experiment_ids: ['2'] } },
  { name: 'unlink dataset', method: 'POST', path: '/api/3.0/mlflow/datasets/{dataset}/remove-experiments', body: { experiment_ids: ['2'] } },
  {
    name: 'link unknown dataset',
    method: 'POST',
    path: '/api/3.0/mlflow/datasets/d-0123456789abcdef0123456789abcdef/add-experiments',
    body: { experiment_ids: ['1'] },
  },
  { name: 'delete records', method: 'DELETE', path: '/api/3.0/mlflow/datasets/{dataset}/records', body: { dataset_record_ids: ['{record}', 'dr-nope'] } },
  { name: 'get emptied dataset', method: 'GET', path: '/api/3.0/mlflow/datasets/{dataset}' },
  { name: 'delete dataset', method: 'DELETE', path: '/api/3.0/mlflow/datasets/{dataset}' },
  { name: 'get deleted dataset', method: 'GET', path: '/api/3.0/mlflow/datasets/{dataset}' },
  { name: 'put artifact', method: 'PUT', path: '/api/2.0/mlflow-artifacts/artifacts/1/{run}/artifacts/notes.txt', body: 'notes\n' },
  { name: 'delete artifact', method: 'DELETE', path: '/api/2.0/mlflow-artifacts/artifacts/1/{run}/artifacts/notes.txt' },
];

interface Answer {
  status: number;
  body: unknown;
}

/** Runs the scenario against one server; ids and timestamps it chose are replaced by their names. */
async function run(url: string): Promise<Record<string, Answer>> {
  const ids: Record<string, string> = {};
  const fill = (s: string) => s.replace(/\{(run|model|dataset|record)\}/g, (_m, k: string) => ids[k] ?? `{${k}}`);
  const answers: Record<string, Answer> = {};
  for (const step of SCENARIO) {
    const body = step.body === undefined ? undefined : typeof step.body === 'string' ? step.body : fill(JSON.stringify(step.body));
    const res = await fetch(`${url}${fill(step.path)}`, {
      method: step.method,
      headers: body === undefined ? {} : { 'content-type': typeof step.body === 'string' ? 'text/plain' : 'application/json' },
      body,
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: compared as text
    }
    const found = json as { run?: { info?: { run_id?: string } }; model?: { info?: { model_id?: string } }; dataset?: { dataset_id?: string }; records?: string };
    if (step.name === 'create run' && found.run?.info?.run_id) ids.run = found.run.info.run_id;
    if (step.name === 'create logged model' && found.model?.info?.model_id) ids.model = found.model.info.model_id;
    if (step.name === 'create dataset' && found.dataset?.dataset_id) ids.dataset = found.dataset.dataset_id;
    if (step.name === 'get records' && found.records) ids.record = (JSON.parse(found.records) as Array<{ dataset_record_id: string }>)[0]?.dataset_record_id;
    answers[step.name] = { status: res.status, body: normalize(json, ids) };
  }
  return answers;
}

/**
 * Ids by name, timestamps as "<ms>", generated names as "<name>", digests as "<digest>"; MLflow's extra error fields
 * (sqlstate, error_class) dropped; JSON text (a dataset's tags, schema, profile and records) compared as what it holds.
 */
function normalize(value: unknown, ids: Record<string, string>, key = ''): unknown {
  if (typeof value === 'string' && /^[[{]/.test(value)) {
    try {
      return { json: normalize(JSON.parse(value), ids, key) };
    } catch {
      // not JSON text: compared as a string
    }
  }
  if (key === 'digest' && typeof value === 'string') return '<digest>';
  if (Array.isArray(value)) return value.map((v) => normalize(v, ids));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === 'sqlstate' || k === 'error_class') continue;
      out[k] = normalize(v, ids, k);
    }
    return out;
  }
  // int64 times are numbers in REST answers, strings in GraphQL's (LongString).
  if (/time/i.test(key) && (typeof value === 'number' || (typeof value === 'string' && /^[0-9]{13}$/.test(value)))) return '<ms>';
  if (typeof value !== 'string') return value;
  let s = value;
  for (const [name, id] of Object.entries(ids)) s = s.split(id).join(`{${name}}`);
  s = s.replace(/m-[0-9a-f]{32}/g, '<other model>');
  if (key === 'name' && !['m1', 'agreement', 'r', 'ds'].includes(s)) return '<generated>';
  return s;
}

describe('the sandbox MLflow answers as the real MLflow does (one scenario list, two targets)', () => {
  let real: RealMlflow;
  let emulator: MlflowEmulator;
  beforeAll(async () => {
    [real, emulator] = await Promise.all([startRealMlflow(), startMlflow()]);
  });
  afterAll(async () => {
    await emulator?.close();
    await real?.stop();
  });

  it('logged models, evaluation datasets, proxied artifacts and the UI’s GraphQL: same status and same JSON at every step', async () => {
    const expected = await run(real.url);
    const actual = await run(emulator.url);
    // Every step, named, so that a difference says where it is.
    expect(SCENARIO.map((s) => [s.name, actual[s.name]])).toEqual(SCENARIO.map((s) => [s.name, expected[s.name]]));
    // The scenario did what it says on the real server (not a list of refusals on both sides).
    expect(expected['finalize'].status).toBe(200);
    expect(expected['get deleted logged model'].status).toBe(404);
    expect([expected['upsert the same inputs'].body, expected['get deleted dataset'].status]).toEqual([{ inserted_count: 0, updated_count: 1 }, 404]);
  });
});
