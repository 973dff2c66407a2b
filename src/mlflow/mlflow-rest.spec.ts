import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { REAL_ROW_CASES } from '../../test/mlflow-real/row-cases';
import { ROW_CASES } from '../../test/support/mlflow-row-cases';
import { mlflowRestHarness } from '../../test/support/mlflow-rest-harness';
import { principalFromClaims, type Principal } from '../auth/principal';
import { ProblemException } from '../common/problem';
import { loadConfig } from '../config/load-config';
import { matchRestEndpoint, REST_ENDPOINTS } from './mlflow-endpoints';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowRestDecider } from './mlflow-rest';
import { targetOf } from './mlflow-target';
import type { MlflowClient } from './mlflow.client';

// Longer than 400 lines: one harness (the decider with a stand-in MLflow client and a user at each level) for every row's case and for each family's own decisions.

/**
 * The REST decisions without a server: every case of the endpoint table's rows (the level each row
 * and method needs, written down in test/support/mlflow-row-cases.ts and test/mlflow-real/row-cases.ts,
 * not read from the table) put through MlflowRestDecider with a user just below the row's level and
 * one at it. A new row is covered as soon as it has its case, which mlflow-decisions.spec.ts requires.
 */
const BASE_ENV = { NODE_ENV: 'test', KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's' };
/** Evaluation datasets by the experiments they are linked to (ids.dataset, ids.spareDataset: the test's experiment alone). */
const DATASET_LINKS: Record<string, string[]> = { 'd-of-7-and-8': ['7', '8'], 'd-of-none': [] };
const ids = {
  experiment: '7',
  run: 'run-of-7',
  model: 'm-of-7',
  name: 'experiment-7',
  registered: 'registered-7',
  trace: 'tr-of-7',
  assessment: 'a-of-7',
  webhook: 'wh-1',
  webhookUrl: 'https://hooks.example.com/mlflow',
  dataset: 'd-of-7',
  spareDataset: 'd-also-of-7',
};
const LEVELS = ['NO_PERMISSIONS', 'READ', 'EDIT', 'MANAGE'] as const;
type Level = (typeof LEVELS)[number];
const BELOW: Record<string, Level> = { READ: 'NO_PERMISSIONS', EDIT: 'READ', MANAGE: 'EDIT' };

/** The list each search answers with, where its items name their experiment (by row where one op serves several lists). */
const SEARCH_LISTS: Record<string, (experimentId: string) => Record<string, unknown>> = {
  '2.0/mlflow/experiments/search-datasets': (e) => ({ dataset_summaries: [{ experiment_id: e, name: ids.name }] }),
  // MLflow's items do not name their experiments: each dataset is looked up.
  '3.0/mlflow/datasets/search': () => ({ datasets: [{ dataset_id: ids.dataset, name: ids.name }] }),
  'search-experiments': (e) => ({ experiments: [{ experiment_id: e, name: ids.name }] }),
  'search-runs': (e) => ({ runs: [{ info: { run_id: ids.run, experiment_id: e } }] }),
  'search-models': (e) => ({ models: [{ info: { model_id: ids.model, experiment_id: e } }] }),
  'search-registered-models': () => ({ registered_models: [{ name: ids.registered }] }),
  'search-model-versions': () => ({ model_versions: [{ name: ids.registered, version: '1' }] }),
  'search-traces': (e) => ({ traces: [{ trace_id: ids.trace, trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: e } } }] }),
  'list-scorers': (e) => ({ scorers: [{ experiment_id: e, scorer_name: 'level-scorer', scorer_version: 2 }] }),
};

const admin = principalFromClaims(
  { sub: 'sub-admin', preferred_username: 'admin', realm_access: { roles: ['ADMIN'] }, iss: 'https://idp.test', exp: 9e9 },
  'platform-bff',
);
let decider: MlflowRestDecider;
let permissions: MlflowPermissionService;
const users = new Map<Level, Principal>();

beforeAll(async () => {
  // Admins (webhooks): MANAGE on every experiment from the ADMIN role.
  const config = loadConfig({ ...BASE_ENV, MLFLOW_GROUP_PERMISSIONS: '{"ADMIN":"MANAGE"}' });
  const client = {
    experimentOfRun: async (run: string) => (run === ids.run ? ids.experiment : undefined),
    experimentOfModel: async (model: string) => (model === ids.model ? ids.experiment : undefined),
    experimentOfTrace: async (trace: string) => (trace === ids.trace ? ids.experiment : undefined),
    experimentsOfDataset: async (dataset: string) => (dataset === ids.dataset || dataset === ids.spareDataset ? [ids.experiment] : (DATASET_LINKS[dataset] ?? [])),
  } as unknown as MlflowClient;
  ({ permissions, decider } = mlflowRestHarness(config, client));
  // Each user's level comes from a grant on the test's experiment alone (no group default), and the same
  // level on the registered model (under its name and the name the rename case gives it).
  for (const level of LEVELS) {
    const username = `user-${level.toLowerCase()}`;
    users.set(level, principalFromClaims({ sub: `sub-${username}`, preferred_username: username, iss: 'https://idp.test', exp: 9e9 }, 'platform-bff'));
    if (level === 'NO_PERMISSIONS') continue;
    await permissions.setGrant(ids.experiment, username, level, 'owner');
    for (const name of [ids.registered, `${ids.registered}-renamed`]) await permissions.setGrant(name, username, level, 'owner', 'registered-model');
  }
});
beforeEach(() => {
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

function request(method: string, path: string, body: unknown): FastifyRequest {
  const bytes = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return { method, headers: {}, raw: { url: `/mlflow${path}` }, body: bytes ? Readable.from([bytes]) : undefined } as unknown as FastifyRequest;
}

const principalOf = (who: Level | Principal): Principal => (typeof who === 'string' ? users.get(who)! : who);
const target = (path: string) => targetOf(request('GET', path, undefined), 'GET');

/** What the decision code does with one case for a user (at `level`): forwards it, answers it itself, or refuses it. */
async function outcome(c: { row: string; method: string; request: (i: typeof ids) => { path: string; body?: unknown } }, level: Level | Principal): Promise<string> {
  const { path, body } = c.request(ids);
  const req = request(c.method, path, body);
  const op = REST_ENDPOINTS[c.row].rule.op;
  try {
    const decision = await decider.decide(req, targetOf(req, c.method), typeof level === 'string' ? users.get(level)! : level, c.method);
    if ('answer' in decision) return op === 'answer' ? 'answered' : `answered ${JSON.stringify(decision.answer)}`;
    const inspect = decision.forward.inspect;
    const list = SEARCH_LISTS[c.row] ?? SEARCH_LISTS[op];
    // A search filters MLflow's answer; a row of a search op that names one experiment (scorers/list) is forwarded as it is.
    if (list && inspect) {
      const shown = await inspect(list(ids.experiment));
      const text = JSON.stringify(shown) ?? '';
      return `forwarded, ${
        text.includes(`"experiment_id":"${ids.experiment}"`) || text.includes(`"dataset_id":"${ids.dataset}"`) || text.includes(`"name":"${ids.registered}"`)
          ? 'listed'
          : 'left out'
      }`;
    }
    // get-by-name: decided on MLflow's answer.
    if (op === 'get-by-name') await inspect!({ experiment: { experiment_id: ids.experiment, name: ids.name } });
    return 'forwarded';
  } catch (err) {
    if (!(err instanceof ProblemException)) throw err;
    return `${err.getStatus()} ${err.reason}`;
  }
}

/** The decision operations this spec knows how to set up (a new kind of rule needs its setup here). */
const DECIDED_ON_EXPERIMENTS = new Set([
  'experiment',
  'run',
  'runs',
  'create-experiment',
  'create-run',
  'get-by-name',
  'search-experiments',
  'search-runs',
  'artifact',
  'artifact-list',
  'model',
  'create-model',
  'search-models',
  // The model registry: decided on the registered model (the level users have it on ids.registered too).
  'registered-model',
  'create-registered-model',
  'create-model-version',
  'search-registered-models',
  'search-model-versions',
  // Decided on nothing but the caller's token.
  'authenticated',
  // Answered by the BFF, and dataset searches (narrowed to the readable experiments, results filtered).
  'answer',
  'search-datasets',
  // GraphQL: each of the UI's documents, decided on the experiment or run it reads (mlflow-graphql.spec.ts has the rest).
  'graphql',
  // MLflow 3's traces: decided on the experiment of the trace (ids.trace is a trace of the test's experiment).
  'trace',
  'traces',
  'start-trace',
  'search-traces',
  'trace-metrics',
  // Scorers: decided on the experiment named (or the registrant's grant); webhooks: admins only (ADMIN cases).
  'register-scorer',
  'list-scorers',
  'scorer',
  'scorer-configs',
  'admin',
  // MLflow 3's evaluation datasets: decided on the experiments each is linked to (ids.dataset: the test's experiment alone).
  'dataset',
  'create-dataset',
]);
const CASES = [...ROW_CASES, ...REAL_ROW_CASES].filter((c) => DECIDED_ON_EXPERIMENTS.has(REST_ENDPOINTS[c.row]?.rule.op));

describe('MlflowRestDecider: every row of the endpoint table needs exactly its level', () => {
  it('knows how to set up every kind of decision in the table (a new kind needs its setup here)', () => {
    const ops = new Set(Object.values(REST_ENDPOINTS).map((e) => e.rule.op));
    expect([...ops].filter((op) => !DECIDED_ON_EXPERIMENTS.has(op))).toEqual([]);
  });

  it('every row and method of the table has a case decided here', () => {
    const table = Object.entries(REST_ENDPOINTS)
      .filter(([, e]) => DECIDED_ON_EXPERIMENTS.has(e.rule.op))
      .flatMap(([row, e]) => e.methods.map((m) => `${m} ${row}`));
    expect([...new Set(CASES.map((c) => `${c.method} ${c.row}`))].sort()).toEqual([...new Set(table)].sort());
    expect(CASES.length).toBeGreaterThan(40);
  });

  it('refuses the level just below a row’s (403 insufficient_role) and forwards at exactly its level', async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const c of CASES) {
      const name = `${c.method} ${c.row}`;
      if (c.need === 'ANY') {
        outcomes.push(`${name}: NO_PERMISSIONS → ${await outcome(c, 'NO_PERMISSIONS')}`);
        // The BFF's own answers (users/current, the assistant's and the gateway's empty answers) are never forwarded.
        expected.push(`${name}: NO_PERMISSIONS → ${REST_ENDPOINTS[c.row].rule.op === 'answer' ? 'answered' : 'forwarded'}`);
      } else if (c.need === 'FILTER') {
        outcomes.push(`${name}: NO_PERMISSIONS → ${await outcome(c, 'NO_PERMISSIONS')}, READ → ${await outcome(c, 'READ')}`);
        // A search over experiment ids with none readable is answered without asking MLflow.
        const op = REST_ENDPOINTS[c.row].rule.op;
        const hidden = ['search-experiments', 'search-registered-models', 'search-model-versions'].includes(op) ? 'forwarded, left out' : 'answered {}';
        expected.push(`${name}: NO_PERMISSIONS → ${hidden}, READ → forwarded, listed`);
      } else if (c.need === 'ADMIN') {
        outcomes.push(`${name}: MANAGE → ${await outcome(c, 'MANAGE')}, admin → ${await outcome(c, admin)}`);
        expected.push(`${name}: MANAGE → 403 insufficient_role, admin → forwarded`);
      } else {
        outcomes.push(`${name}: ${BELOW[c.need]} → ${await outcome(c, BELOW[c.need])}, ${c.need} → ${await outcome(c, c.need)}`);
        expected.push(`${name}: ${BELOW[c.need]} → 403 insufficient_role, ${c.need} → forwarded`);
      }
    }
    expect(outcomes).toEqual(expected);
  });

  it('a level on another experiment counts for nothing', async () => {
    await permissions.setGrant('8', 'other-manager', 'MANAGE', 'owner');
    const elsewhere = principalFromClaims({ sub: 'sub-other', preferred_username: 'other-manager', iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');
    const refused = CASES.filter((c) => c.need !== 'ANY' && c.need !== 'FILTER');
    const outcomes = [];
    for (const c of refused) outcomes.push(`${c.method} ${c.row}: ${await outcome(c, elsewhere)}`);
    expect(outcomes).toEqual(refused.map((c) => `${c.method} ${c.row}: 403 insufficient_role`));
  });

  it('a trace id or a run of another experiment cannot be named by a trace started in one’s own', async () => {
    await permissions.setGrant('8', 'editor-8', 'EDIT', 'owner');
    const editor = principalFromClaims({ sub: 'sub-editor-8', preferred_username: 'editor-8', iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');
    const start = (info: Record<string, unknown>) => ({
      row: '3.0/mlflow/traces',
      method: 'POST',
      request: () => ({
        path: '/api/3.0/mlflow/traces',
        body: { trace: { trace_info: { trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '8' } }, ...info } } },
      }),
    });
    expect([
      await outcome(start({ trace_id: 'tr-new' }), editor),
      await outcome(start({ trace_id: ids.trace }), editor),
      await outcome(start({ trace_id: 'tr-new', trace_metadata: { 'mlflow.sourceRun': ids.run } }), editor),
      await outcome(start({ trace_id: 'tr-new', trace_metadata: { 'mlflow.modelId': ids.model } }), editor),
    ]).toEqual(['forwarded', '403 insufficient_role', '400 validation_failed', '400 validation_failed']);
  });

  it('an evaluation dataset needs the level on every experiment it is linked to; one linked to none is the admins’', async () => {
    await permissions.setGrant('8', 'reader-7-8', 'READ', 'owner');
    await permissions.setGrant('7', 'reader-7-8', 'READ', 'owner');
    const both = principalFromClaims({ sub: 'sub-reader-7-8', preferred_username: 'reader-7-8', iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');
    const get = (dataset: string) => ({ row: '3.0/mlflow/datasets/{dataset_id}', method: 'GET', request: () => ({ path: `/api/3.0/mlflow/datasets/${dataset}` }) });
    const search = {
      row: '3.0/mlflow/datasets/search',
      method: 'POST',
      request: () => ({ path: '/api/3.0/mlflow/datasets/search', body: { experiment_ids: ['7'] } }),
    };
    const listed = async (who: Level | Principal) => {
      const decision = await decider.decide(
        request('POST', '/api/3.0/mlflow/datasets/search', search.request().body),
        target('/api/3.0/mlflow/datasets/search'),
        principalOf(who),
        'POST',
      );
      const datasets = Object.keys({ ...DATASET_LINKS, [ids.dataset]: [] }).map((dataset_id) => ({ dataset_id }));
      const page = ('forward' in decision ? await decision.forward.inspect!({ datasets }) : undefined) as { datasets?: Array<{ dataset_id: string }> } | undefined;
      return (page?.datasets ?? []).map((d) => d.dataset_id);
    };
    expect([
      await outcome(get('d-of-7-and-8'), 'MANAGE'),
      await outcome(get('d-of-7-and-8'), both),
      await outcome(get('d-of-none'), 'MANAGE'),
      await outcome(get('d-of-none'), admin),
      await listed('MANAGE'),
      await listed(both),
      await listed(admin),
    ]).toEqual([
      '403 insufficient_role',
      'forwarded',
      '403 insufficient_role',
      'forwarded',
      [ids.dataset],
      ['d-of-7-and-8', ids.dataset],
      ['d-of-7-and-8', 'd-of-none', ids.dataset],
    ]);
  });

  it('a dataset is created in, and linked to, experiments the caller may edit; the caller is its mlflow.user and its records’', async () => {
    const post = (row: string, body: unknown) => ({
      row: `3.0/mlflow/datasets/${row}`,
      method: 'POST',
      request: () => ({ path: `/api/3.0/mlflow/datasets/${row.replace('{dataset_id}', ids.dataset)}`, body }),
    });
    const create = (body: unknown) => post('create', body);
    expect([
      await outcome(create({ name: 'd', experiment_ids: [] }), 'MANAGE'),
      await outcome(create({ name: 'd', experiment_ids: ['7', '8'] }), 'MANAGE'),
      await outcome(create({ name: 'd', experiment_ids: ['7'] }), 'READ'),
      await outcome(post('{dataset_id}/add-experiments', { experiment_ids: ['8'] }), 'MANAGE'),
      await outcome(post('{dataset_id}/remove-experiments', { experiment_ids: ['8'] }), 'MANAGE'),
      await outcome(post('{dataset_id}/add-experiments', { dataset_id: 'd-other', experiment_ids: ['7'] }), 'MANAGE'),
      await outcome(
        {
          row: '3.0/mlflow/datasets/{dataset_id}/records',
          method: 'GET',
          request: () => ({ path: `/api/3.0/mlflow/datasets/${ids.dataset}/records?dataset_id=d-other` }),
        },
        'MANAGE',
      ),
    ]).toEqual([
      '403 insufficient_role',
      '403 insufficient_role',
      '403 insufficient_role',
      '403 insufficient_role',
      '403 insufficient_role',
      '400 validation_failed',
      '400 validation_failed',
    ]);

    const sent = async (path: string, body: unknown) => {
      const decision = await decider.decide(request('POST', path, body), target(path), users.get('EDIT')!, 'POST');
      return 'forward' in decision ? (JSON.parse(decision.forward.body!.toString()) as Record<string, string>) : {};
    };
    const warned = () => jest.mocked(Logger.prototype.warn).mock.calls.filter(([m]) => (m as { event?: string }).event === 'mlflow.identity_replaced').length;
    const before = warned();
    const created = await sent('/api/3.0/mlflow/datasets/create', { name: 'd', experiment_ids: ['7'], tags: '{"mlflow.user":"root","k":"v"}' });
    const records = await sent(`/api/3.0/mlflow/datasets/${ids.dataset}/records`, {
      records: JSON.stringify([{ inputs: { q: 1 }, tags: { 'mlflow.user': 'root' } }, { inputs: { q: 2 } }]),
    });
    // Each replaced user is logged (the dataset's, the first record's; the second record named none).
    expect(warned() - before).toBe(2);
    expect([JSON.parse(created.tags), JSON.parse(records.records), records.dataset_id]).toEqual([
      { 'mlflow.user': 'user-edit', k: 'v' },
      [
        { inputs: { q: 1 }, tags: { 'mlflow.user': 'user-edit' } },
        { inputs: { q: 2 }, tags: { 'mlflow.user': 'user-edit' } },
      ],
      ids.dataset,
    ]);
  });

  it('a path the table does not list, or a method its row does not take, is refused before anything is decided', async () => {
    const denied = await outcome({ row: '2.0/mlflow/experiments/get', method: 'GET', request: () => ({ path: '/api/2.0/mlflow/registered-models/x' }) }, 'MANAGE');
    expect(denied).toBe('403 insufficient_role');
    expect(matchRestEndpoint('/api/2.0/mlflow/runs/delete')?.methods).toEqual(['POST']);
    expect(
      await outcome({ row: '2.0/mlflow/runs/delete', method: 'GET', request: (i) => ({ path: `/api/2.0/mlflow/runs/delete?run_id=${i.run}` }) }, 'MANAGE'),
    ).toBe('405 method_not_allowed');
  });
});

describe('MlflowRestDecider: scorers and webhooks', () => {
  const editor = () => users.get('EDIT')!;
  const scorerCall = (method: string, path: string, body?: unknown) => ({
    row: matchRestEndpoint(path.split('?')[0])!.name,
    method,
    request: () => ({ path, body }),
  });
  const register = (name: string) => ({ experiment_id: ids.experiment, name, serialized_scorer: '{}' });
  /** What the BFF forwards for a call (it must forward it). */
  const forwarded = async (method: string, path: string, body: unknown, who: Principal) => {
    const decision = await decider.decide(request(method, path, body), targetOf(request(method, path, undefined), method), who, method);
    if (!('forward' in decision)) throw new Error(`${method} ${path} was not forwarded`);
    return decision.forward;
  };

  it('the registrant of a scorer may delete it (MANAGE on the scorer, as MLflow grants it), another editor may not; deleting it drops that grant', async () => {
    const decision = await forwarded('POST', '/api/3.0/mlflow/scorers/register', register('mine'), editor());
    // MLflow's answer names the scorer registered: the grant follows it.
    await decision.inspect!({ version: 1, experiment_id: ids.experiment, name: 'mine', scorer_id: 's-1' });
    const other = principalFromClaims({ sub: 'sub-other-editor', preferred_username: 'other-editor', iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');
    await permissions.setGrant(ids.experiment, 'other-editor', 'EDIT', 'owner');
    const del = (name: string, version?: number) =>
      scorerCall('DELETE', '/api/3.0/mlflow/scorers/delete', { experiment_id: ids.experiment, name, ...(version ? { version } : {}) });
    expect([
      await outcome(del('mine', 1), editor()),
      await outcome(del('mine', 1), other),
      await outcome(del('theirs'), editor()),
      await outcome(scorerCall('GET', `/api/3.0/mlflow/scorers/get?experiment_id=${ids.experiment}&name=mine`), editor()),
    ]).toEqual(['forwarded', '403 insufficient_role', '403 insufficient_role', 'forwarded']);
    // The whole scorer deleted: its grants go with it (a scorer registered again under that name starts afresh).
    const whole = await forwarded('DELETE', '/api/3.0/mlflow/scorers/delete', { experiment_id: ids.experiment, name: 'mine' }, editor());
    await whole.inspect!({});
    expect(await outcome(del('mine'), editor())).toBe('403 insufficient_role');
  });

  it('a registration MLflow refused grants nothing', async () => {
    const decision = await forwarded('POST', '/api/3.0/mlflow/scorers/register', register('refused'), editor());
    await decision.inspect!({ error_code: 'INVALID_PARAMETER_VALUE', message: 'serialized_scorer must be valid JSON' });
    expect(await permissions.grant(`${ids.experiment}/refused`, 'user-edit', 'scorer')).toBeUndefined();
  });

  it('a listing of every scorer keeps those of readable experiments only (MLflow answers experiment ids as numbers)', async () => {
    const decision = await forwarded('GET', '/api/3.0/mlflow/scorers/list', undefined, users.get('READ')!);
    const shown = await decision.inspect!({
      scorers: [
        { experiment_id: Number(ids.experiment), scorer_name: 'a', scorer_version: 1 },
        { experiment_id: 8, scorer_name: 'b', scorer_version: 1 },
      ],
    });
    expect(shown).toEqual({ scorers: [{ experiment_id: Number(ids.experiment), scorer_name: 'a', scorer_version: 1 }] });
  });

  it('refuses what MLflow would not read: both experiment_id and experiment_ids, an unknown field, a webhook id other than the path’s', async () => {
    expect([
      await outcome(scorerCall('GET', `/api/3.0/mlflow/scorers/list?experiment_id=${ids.experiment}&experiment_ids=${ids.experiment}`), 'READ'),
      await outcome(scorerCall('POST', '/api/3.0/mlflow/scorers/register', { ...register('x'), owner: 'someone' }), 'EDIT'),
      await outcome(scorerCall('PATCH', '/api/2.0/mlflow/webhooks/wh-1', { webhook_id: 'wh-2', description: 'd' }), admin),
      await outcome(scorerCall('POST', '/api/2.0/mlflow/webhooks', { name: 'w', url: 'https://x', events: [], token: 't' }), admin),
    ]).toEqual(['400 validation_failed', '400 validation_failed', '400 validation_failed', '400 validation_failed']);
  });

  it('online scoring configs are answered only when every one is of a readable experiment', async () => {
    const decision = await forwarded('GET', '/api/3.0/mlflow/scorers/online-configs?scorer_ids=s-1&scorer_ids=s-2', undefined, users.get('READ')!);
    const config = (experiment: string) => ({ online_scoring_config_id: 'c', scorer_id: 's-1', sample_rate: 0.5, experiment_id: experiment });
    const seen = async (answer: Record<string, unknown>) => {
      try {
        return (await decision.inspect!(answer)) ?? 'as MLflow answered';
      } catch (err) {
        return err instanceof ProblemException ? `${err.getStatus()} ${err.reason}` : err;
      }
    };
    expect([await seen({ configs: [config(ids.experiment)] }), await seen({ configs: [config(ids.experiment), config('8')] }), await seen({ configs: [] })]).toEqual(
      ['as MLflow answered', '403 insufficient_role', 'as MLflow answered'],
    );
  });

  it('webhooks: the path’s id is the one MLflow gets in an update’s body', async () => {
    const decision = await forwarded('PATCH', '/api/2.0/mlflow/webhooks/wh-1', { description: 'd' }, admin);
    expect(JSON.parse(decision.body!.toString())).toEqual({ description: 'd', webhook_id: 'wh-1' });
  });
});

describe('the endpoint table: what each row reads, and which paths name a row', () => {
  // A case for outcome(): its row only tells outcome() how to read a search's answer (a path naming no row: any row).
  const call = (method: string, path: string, body?: unknown) => ({
    row: matchRestEndpoint(path.split('?')[0])?.name ?? '2.0/mlflow/runs/get',
    method,
    request: () => ({ path, body }),
  });
  const runsGet = `/api/2.0/mlflow/runs/get?run_id=${ids.run}`;

  it('forwards every value MLflow takes of the table’s enums (view types, run and logged-model statuses), and refuses another', async () => {
    const viewTypes = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'];
    const runStatuses = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
    const modelStatuses = ['LOGGED_MODEL_STATUS_UNSPECIFIED', 'LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED'];
    const outcomes: string[] = [];
    for (const v of [...viewTypes, 'EVERY']) {
      outcomes.push(`experiments ${v}: ${await outcome(call('GET', `/api/2.0/mlflow/experiments/search?view_type=${v}`), 'READ')}`);
      outcomes.push(`runs ${v}: ${await outcome(call('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [ids.experiment], run_view_type: v }), 'READ')}`);
    }
    for (const s of [...runStatuses, 'PAUSED']) {
      outcomes.push(`run ${s}: ${await outcome(call('POST', '/api/2.0/mlflow/runs/update', { run_id: ids.run, status: s }), 'EDIT')}`);
    }
    for (const s of [...modelStatuses, 'LOGGED_MODEL_DELETED']) {
      outcomes.push(`model ${s}: ${await outcome(call('PATCH', `/api/2.0/mlflow/logged-models/${ids.model}`, { model_id: ids.model, status: s }), 'EDIT')}`);
    }
    expect(outcomes).toEqual([
      ...viewTypes.flatMap((v) => [`experiments ${v}: forwarded, listed`, `runs ${v}: forwarded, listed`]),
      'experiments EVERY: 400 validation_failed',
      'runs EVERY: 400 validation_failed',
      ...runStatuses.map((s) => `run ${s}: forwarded`),
      'run PAUSED: 400 validation_failed',
      ...modelStatuses.map((s) => `model ${s}: forwarded`),
      'model LOGGED_MODEL_DELETED: 400 validation_failed',
    ]);
  });

  it('forwards the fields and nested messages each row declares, which the row cases leave out', async () => {
    const dataset = { name: 'd', digest: 'x1', source_type: 'local', source: '{}', schema: '{}', profile: '{}' };
    expect([
      await outcome(call('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: ids.run, params: [{ key: 'p', value: '1' }] }), 'EDIT'),
      await outcome(call('POST', '/api/2.0/mlflow/runs/log-inputs', { run_id: ids.run, datasets: [{ tags: [{ key: 'k', value: 'v' }], dataset }] }), 'EDIT'),
      await outcome(
        call('POST', '/api/2.0/mlflow/logged-models/search', {
          experiment_ids: [ids.experiment],
          datasets: [{ dataset_name: 'd', dataset_digest: 'x1' }],
          order_by: [{ field_name: 'name', ascending: true, dataset_name: 'd', dataset_digest: 'x1' }],
        }),
        'READ',
      ),
      await outcome(call('GET', `/api/2.0/mlflow/logged-models/${ids.model}?allow_deleted=true`), 'READ'),
      await outcome(call('HEAD', `/api/2.0/mlflow/logged-models/${ids.model}?allow_deleted=true`), 'READ'),
      await outcome(call('GET', `/api/2.0/mlflow/logged-models/${ids.model}/artifacts/directories?artifact_directory_path=model`), 'READ'),
      // A field of one method is no field of another.
      await outcome(call('PATCH', `/api/2.0/mlflow/logged-models/${ids.model}`, { model_id: ids.model, allow_deleted: true }), 'EDIT'),
    ]).toEqual(['forwarded', 'forwarded', 'forwarded, listed', 'forwarded', 'forwarded', 'forwarded', '400 validation_failed']);
  });

  it('refuses ids and names the table’s patterns do not take as a whole (400), before asking MLflow or the grants', async () => {
    const longId = '1234567890123456789';
    await permissions.setGrant(longId, 'reader-long', 'READ', 'owner');
    const reader = principalFromClaims({ sub: 'sub-reader-long', preferred_username: 'reader-long', iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');
    const get = (path: string) => call('GET', path);
    const experiment = (id: string) => get(`/api/2.0/mlflow/experiments/get?experiment_id=${id}`);
    const run = (id: string) => get(`/api/2.0/mlflow/runs/get?run_id=${encodeURIComponent(id)}`);
    const trace = (id: string) => get(`/api/3.0/mlflow/traces/${encodeURIComponent(id)}`);
    const model = (id: string) => get(`/api/2.0/mlflow/logged-models/${encodeURIComponent(id)}`);
    const registered = (name: string) => get(`/api/2.0/mlflow/registered-models/get?name=${encodeURIComponent(name)}`);
    const refused = [
      experiment(`x${ids.experiment}`),
      experiment(`${ids.experiment}x`),
      experiment(`${longId}0`),
      run(`!${ids.run}`),
      run(`${ids.run}!`),
      run('r'.repeat(65)),
      trace(`!${ids.trace}`),
      trace(`${ids.trace}!`),
      model(`!${ids.model}`),
      model(`${ids.model}!`),
      registered(`:${ids.registered}`),
      registered(`${ids.registered}:`),
      registered('r'.repeat(257)),
    ];
    const outcomes: string[] = [];
    for (const c of refused) outcomes.push(`${c.request().path}: ${await outcome(c, 'MANAGE')}`);
    expect([await outcome(experiment(longId), reader), await outcome(registered('r'.repeat(256)), 'MANAGE'), ...outcomes]).toEqual([
      'forwarded',
      '403 insufficient_role',
      ...refused.map((c) => `${c.request().path}: 400 validation_failed`),
    ]);
  });

  it('a path names a row only as a whole: nothing below a row, before the API prefix, after a newline, or of Object.prototype', async () => {
    const paths = [
      `/api/2.0/mlflow/runs/get/x?run_id=${ids.run}`,
      `/api/2.0/mlflow/runs/gets?run_id=${ids.run}`,
      `/model-versions/x/api/2.0/mlflow/runs/get?run_id=${ids.run}`,
      `/api/2.0/mlflow/runs/get%0Ax?run_id=${ids.run}`,
      `/api/2x0/mlflow/logged-models/${ids.model}`,
      `/api/3x0/mlflow/traces/${ids.trace}`,
      '/api/constructor',
      '/api/__proto__',
      '/api/toString',
      '/ajax-api/hasOwnProperty',
    ];
    const outcomes: string[] = [];
    for (const path of paths) outcomes.push(`${path}: ${await outcome(call('GET', path), 'MANAGE')}`);
    expect([await outcome(call('GET', runsGet), 'MANAGE'), ...outcomes]).toEqual(['forwarded', ...paths.map((path) => `${path}: 403 insufficient_role`)]);
  });
});
