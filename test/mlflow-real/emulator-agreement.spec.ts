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
  const fill = (s: string) => s.replace(/\{(run|model)\}/g, (_m, k: string) => ids[k] ?? `{${k}}`);
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
    const found = json as { run?: { info?: { run_id?: string } }; model?: { info?: { model_id?: string } } };
    if (step.name === 'create run' && found.run?.info?.run_id) ids.run = found.run.info.run_id;
    if (step.name === 'create logged model' && found.model?.info?.model_id) ids.model = found.model.info.model_id;
    answers[step.name] = { status: res.status, body: normalize(json, ids) };
  }
  return answers;
}

/** Ids by name, timestamps as "<ms>", generated names as "<name>"; MLflow's extra error fields (sqlstate, error_class) dropped. */
function normalize(value: unknown, ids: Record<string, string>, key = ''): unknown {
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
  if (key === 'name' && s !== 'm1' && s !== 'agreement' && s !== 'r') return '<generated>';
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

  it('logged models, proxied artifacts and the UI’s GraphQL: same status and same JSON at every step', async () => {
    const expected = await run(real.url);
    const actual = await run(emulator.url);
    // Every step, named, so that a difference says where it is.
    expect(SCENARIO.map((s) => [s.name, actual[s.name]])).toEqual(SCENARIO.map((s) => [s.name, expected[s.name]]));
    // The scenario did what it says on the real server (not a list of refusals on both sides).
    expect(expected['finalize'].status).toBe(200);
    expect(expected['get deleted logged model'].status).toBe(404);
  });
});
