import { startMlflow, type MlflowEmulator } from '../../sandbox/mlflow';
import { uiGraphql } from '../support/mlflow-graphql';
import { startRealMlflow, WEBHOOK_TEST_ENV, type RealMlflow } from '../support/mlflow-server';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { registerScorerBody, webhookBody } from './scorer-row-cases';

jest.setTimeout(300_000);

interface Step {
  name: string;
  method: string;
  /** Under the server's root; `{run}`, `{model}`, `{webhook}` are the ids this server gave, `{hook}` the test's webhook receiver. */
  path: string;
  body?: unknown;
}

/**
 * One scenario list, two targets: the same raw REST calls to the real MLflow and to the sandbox's
 * emulator (sandbox/mlflow.ts) answer the same status and the same JSON, once the ids and timestamps
 * each server chose are named instead of compared. A difference is a fault of the emulator (`npm start`
 * must stay a faithful stand-in).
 */
const scorers = (p: string) => `/api/3.0/mlflow/scorers/${p}`;
/** MLflow 3's registered scorers: two versions registered, listed, got, deleted one by one, and what MLflow refuses. */
const SCORER_STEPS: Step[] = [
  { name: 'register scorer', method: 'POST', path: scorers('register'), body: registerScorerBody('1', 'judge') },
  { name: 'register scorer again', method: 'POST', path: scorers('register'), body: registerScorerBody('1', 'judge') },
  { name: 'register another scorer', method: 'POST', path: scorers('register'), body: registerScorerBody('1', 'critic') },
  { name: 'register, not JSON', method: 'POST', path: scorers('register'), body: { experiment_id: '1', name: 'x', serialized_scorer: 'nope' } },
  {
    name: 'register, a decorated function',
    method: 'POST',
    path: scorers('register'),
    body: { experiment_id: '1', name: 'code', serialized_scorer: JSON.stringify({ name: 'code', call_source: 'return True', original_func_name: 'f' }) },
  },
  { name: 'register, unknown experiment', method: 'POST', path: scorers('register'), body: registerScorerBody('999', 'x') },
  { name: 'register, no name', method: 'POST', path: scorers('register'), body: { experiment_id: '1', serialized_scorer: '{}' } },
  { name: 'list scorers of an experiment', method: 'GET', path: `${scorers('list')}?experiment_id=1` },
  { name: 'list every scorer', method: 'GET', path: scorers('list') },
  { name: 'list scorers of experiments', method: 'GET', path: `${scorers('list')}?experiment_ids=1&experiment_ids=0` },
  { name: 'list scorers, both', method: 'GET', path: `${scorers('list')}?experiment_id=1&experiment_ids=1` },
  { name: 'scorer versions', method: 'GET', path: `${scorers('versions')}?experiment_id=1&name=judge` },
  { name: 'get scorer', method: 'GET', path: `${scorers('get')}?experiment_id=1&name=judge` },
  { name: 'get scorer version 1', method: 'GET', path: `/ajax-api/3.0/mlflow/scorers/get?experiment_id=1&name=judge&version=1` },
  { name: 'online configs', method: 'GET', path: `${scorers('online-configs')}?scorer_ids=00000000-0000-0000-0000-000000000000&scorer_ids=x` },
  { name: 'online configs, none named', method: 'GET', path: scorers('online-configs') },
  { name: 'get unknown scorer', method: 'GET', path: `${scorers('get')}?experiment_id=1&name=nope` },
  { name: 'get unknown version', method: 'GET', path: `${scorers('get')}?experiment_id=1&name=judge&version=9` },
  { name: 'delete scorer version 1', method: 'DELETE', path: scorers('delete'), body: { experiment_id: '1', name: 'judge', version: 1 } },
  { name: 'delete it again', method: 'DELETE', path: scorers('delete'), body: { experiment_id: '1', name: 'judge', version: 1 } },
  { name: 'versions left', method: 'GET', path: `${scorers('versions')}?experiment_id=1&name=judge` },
  { name: 'delete scorer', method: 'DELETE', path: scorers('delete'), body: { experiment_id: '1', name: 'judge' } },
  { name: 'delete scorer again', method: 'DELETE', path: scorers('delete'), body: { experiment_id: '1', name: 'judge' } },
  { name: 'list after delete', method: 'GET', path: `${scorers('list')}?experiment_id=1` },
];
const webhooks = (p = '') => `/api/2.0/mlflow/webhooks${p}`;
/** The model registry's webhooks: made, listed a page at a time, got, updated, tested (a delivery to the test's receiver), deleted. */
const WEBHOOK_STEPS: Step[] = [
  { name: 'create webhook', method: 'POST', path: webhooks(), body: webhookBody('hook-1', '{hook}') },
  { name: 'create webhook, ftp', method: 'POST', path: webhooks(), body: webhookBody('hook-2', 'ftp://files/x') },
  { name: 'create webhook, bad name', method: 'POST', path: webhooks(), body: webhookBody('bad name!', '{hook}') },
  { name: 'create webhook, no events', method: 'POST', path: webhooks(), body: { name: 'hook-3', url: '{hook}' } },
  { name: 'create webhook, empty events', method: 'POST', path: webhooks(), body: { name: 'hook-3', url: '{hook}', events: [] } },
  {
    name: 'create webhook, invalid action',
    method: 'POST',
    path: webhooks(),
    body: { name: 'hook-3', url: '{hook}', events: [{ entity: 'MODEL_VERSION_TAG', action: 'CREATED' }] },
  },
  { name: 'create second webhook', method: 'POST', path: webhooks(), body: webhookBody('hook-2', '{hook}') },
  { name: 'list webhooks, one a page', method: 'GET', path: `${webhooks()}?max_results=1` },
  { name: 'list webhooks', method: 'GET', path: webhooks() },
  { name: 'list webhooks, max 0', method: 'GET', path: `${webhooks()}?max_results=2000` },
  { name: 'get webhook', method: 'GET', path: webhooks('/{webhook}') },
  { name: 'update webhook', method: 'PATCH', path: webhooks('/{webhook}'), body: { description: 'changed', status: 'DISABLED' } },
  { name: 'test webhook', method: 'POST', path: webhooks('/{webhook}/test'), body: { event: { entity: 'MODEL_VERSION', action: 'CREATED' } } },
  { name: 'delete webhook', method: 'DELETE', path: webhooks('/{webhook}') },
  { name: 'get deleted webhook', method: 'GET', path: webhooks('/{webhook}') },
  { name: 'update deleted webhook', method: 'PATCH', path: webhooks('/{webhook}'), body: { description: 'x' } },
];

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
  ...SCORER_STEPS,
  ...WEBHOOK_STEPS,
];

interface Answer {
  status: number;
  body: unknown;
}

/** Runs the scenario against one server; ids and timestamps it chose are replaced by their names. */
async function run(url: string, hook: string): Promise<Record<string, Answer>> {
  const ids: Record<string, string> = {};
  const fill = (s: string) =>
    s
      .replace(/\{(run|model|dataset|record|webhook)\}/g, (_m, k: string) => ids[k] ?? `{${k}}`)
      .split('{hook}')
      .join(hook);
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
    const found = json as {
      run?: { info?: { run_id?: string } };
      model?: { info?: { model_id?: string } };
      dataset?: { dataset_id?: string };
      records?: string;
      webhook?: { webhook_id?: string };
    };
    if (step.name === 'create webhook' && found.webhook?.webhook_id) ids.webhook = found.webhook.webhook_id;
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
  // A scorer's and another webhook's ids (UUIDs the server chose).
  s = s.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
  if (key === 'name' && !['m1', 'agreement', 'r', 'ds'].includes(s)) return '<generated>';
  return s;
}

describe('the sandbox MLflow answers as the real MLflow does (one scenario list, two targets)', () => {
  let real: RealMlflow;
  let emulator: MlflowEmulator;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    [real, emulator, receiver] = await Promise.all([startRealMlflow({ env: WEBHOOK_TEST_ENV }), startMlflow(), startWebhookReceiver()]);
  });
  afterAll(async () => {
    await emulator?.close();
    await real?.stop();
    await receiver?.close();
  });

  it('logged models, evaluation datasets, proxied artifacts, the UI’s GraphQL, scorers and webhooks: same status and same JSON at every step', async () => {
    const expected = await run(real.url, receiver.url);
    const actual = await run(emulator.url, receiver.url);
    // Every step, named, so that a difference says where it is.
    expect(SCENARIO.map((s) => [s.name, actual[s.name]])).toEqual(SCENARIO.map((s) => [s.name, expected[s.name]]));
    // The scenario did what it says on the real server (not a list of refusals on both sides).
    expect(expected['finalize'].status).toBe(200);
    expect(expected['get deleted logged model'].status).toBe(404);
    expect([expected['upsert the same inputs'].body, expected['get deleted dataset'].status]).toEqual([{ inserted_count: 0, updated_count: 1 }, 404]);
    expect([expected['register scorer again'].status, expected['delete scorer'].status, expected['test webhook'].body]).toEqual([
      200,
      200,
      { result: { success: true, response_status: 200, response_body: 'ok' } },
    ]);
    // Both servers delivered the test event to the receiver, signed with the webhook's secret.
    expect(receiver.deliveries.map((d) => typeof d.headers['x-mlflow-signature'])).toEqual(['string', 'string']);
  });
});
