// Longer than 400 lines: one harness (the decider with a stand-in MLflow client, users at each level on two experiments) for every decision of the REST code, grouped by family.
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { mlflowRestHarness } from '../../test/support/mlflow-rest-harness';
import { principalFromClaims, type Principal } from '../auth/principal';
import { ProblemException } from '../common/problem';
import { loadConfig } from '../config/load-config';
import type { Forward } from './mlflow-forwarder';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowRestDecider, type RestDecision } from './mlflow-rest';
import { targetOf } from './mlflow-target';
import type { MlflowClient } from './mlflow.client';

/**
 * The REST decision code's own decisions (mlflow-rest.ts), beside the row-by-row levels of
 * mlflow-rest.spec.ts: what a refusal answers and is counted as, what is forwarded (method, query,
 * body rebuilt from the decided fields), which run, logged model or experiment a request names, the
 * identity the BFF writes, what MLflow's answers make the BFF remember, and how bodies are read.
 */
const BASE_ENV = { NODE_ENV: 'test', KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's' };
const RUNS: Record<string, string> = { 'run-7': '7', 'run-8': '8', 'run-0': '0' };
const MODELS: Record<string, string> = { 'm-7': '7', 'm-8': '8' };

let decider: MlflowRestDecider;
let permissions: MlflowPermissionService;
/** The reasons the denial counter (bff_mlflow_denials_total) was increased with, per test. */
let counted: string[] = [];
const client = {
  experimentOfRun: jest.fn(async (run: string) => RUNS[run]),
  experimentOfModel: jest.fn(async (model: string) => MODELS[model]),
  experimentOfTrace: async () => undefined,
  experimentsOfDataset: async () => [],
  requestJson: jest.fn(),
};

const who = (username: string | undefined, roles: string[] = []): Principal =>
  principalFromClaims(
    { sub: `sub-${username ?? 'nobody'}`, preferred_username: username, realm_access: { roles }, iss: 'https://idp.test', exp: 9e9 },
    'platform-bff',
  );
const reader7 = who('reader-7');
const editor7 = who('editor-7');
const editor78 = who('editor-7-8');
const editor0 = who('editor-0');
const stranger = who('stranger');
const admin = who('admin', ['ADMIN']);
const groupReader = who('group-reader', ['READERS']);

beforeAll(async () => {
  const config = loadConfig({ ...BASE_ENV, MLFLOW_GROUP_PERMISSIONS: '{"ADMIN":"MANAGE","READERS":"READ"}' });
  ({ permissions, decider } = mlflowRestHarness(config, client as unknown as MlflowClient, (reason) => counted.push(reason)));
  await permissions.setGrant('7', 'reader-7', 'READ', 'owner');
  await permissions.setGrant('7', 'editor-7', 'EDIT', 'owner');
  await permissions.setGrant('7', 'editor-7-8', 'EDIT', 'owner');
  await permissions.setGrant('8', 'editor-7-8', 'EDIT', 'owner');
  await permissions.setGrant('0', 'editor-0', 'EDIT', 'owner');
  await permissions.setGrant('8', 'editor-8-only', 'EDIT', 'owner');
  await permissions.setGrant('78', 'reader-78', 'READ', 'owner');
});
beforeEach(() => {
  counted = [];
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

function request(method: string, path: string, body?: unknown): FastifyRequest {
  const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return { method, headers: {}, raw: { url: `/mlflow${path}` }, body: bytes ? Readable.from([bytes]) : undefined } as unknown as FastifyRequest;
}

function decide(method: string, path: string, body: unknown, caller: Principal): Promise<RestDecision> {
  const req = request(method, path, body);
  return decider.decide(req, targetOf(req, method), caller, method);
}

/** A refusal as the client gets it (status and reason), with the reason it was counted under (none: not a denial). */
async function refusal(method: string, path: string, body: unknown, caller: Principal, req = request(method, path, body)): Promise<string> {
  try {
    await decider.decide(req, targetOf(req, method), caller, method);
    return 'not refused';
  } catch (err) {
    if (!(err instanceof ProblemException)) throw err;
    return `${err.getStatus()} ${err.reason}${counted.length > 0 ? ` (${counted.join(', ')})` : ''}`;
  } finally {
    counted = [];
  }
}

/** What MLflow gets for a forwarded call: method, query, the JSON body parsed, content type. */
function sentOf(decision: RestDecision): { method: string; query: string; body?: unknown; contentType?: string } {
  if (!('forward' in decision)) throw new Error(`answered ${JSON.stringify(decision.answer)} instead of forwarded`);
  const { method, query, body, contentType } = decision.forward;
  return {
    method,
    query,
    ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? JSON.parse(body.toString()) : body }),
    ...(contentType === undefined ? {} : { contentType }),
  };
}

async function sent(method: string, path: string, body: unknown, caller: Principal) {
  return sentOf(await decide(method, path, body, caller));
}

async function forwardOf(method: string, path: string, body: unknown, caller: Principal): Promise<Forward> {
  const decision = await decide(method, path, body, caller);
  if (!('forward' in decision)) throw new Error('not forwarded');
  return decision.forward;
}

const identityReplaced = () => jest.mocked(Logger.prototype.warn).mock.calls.filter(([m]) => (m as { event?: string }).event === 'mlflow.identity_replaced').length;

describe('MlflowRestDecider: refusals before the row is decided', () => {
  it('a path the table does not list: 403 insufficient_role, counted as unknown_endpoint', async () => {
    expect(await refusal('GET', '/api/2.0/mlflow/nothing-here', undefined, admin)).toBe('403 insufficient_role (unknown_endpoint)');
  });

  it('a caller without preferred_username: 403 insufficient_role, counted as no_username, before any permission is looked at', async () => {
    expect(await refusal('GET', '/api/2.0/mlflow/experiments/get?experiment_id=7', undefined, who(undefined, ['ADMIN']))).toBe(
      '403 insufficient_role (no_username)',
    );
  });

  it('a method the row does not take: 405 method_not_allowed, not counted as a denial', async () => {
    expect(await refusal('DELETE', '/api/2.0/mlflow/experiments/get', undefined, admin)).toBe('405 method_not_allowed');
  });

  it('a request MLflow reads from its body may not carry a query; one read from the query may', async () => {
    expect(await refusal('POST', '/api/2.0/mlflow/experiments/update?experiment_id=8', { experiment_id: '7', new_name: 'n' }, editor7)).toBe(
      '400 validation_failed',
    );
    expect(await sent('POST', '/api/2.0/mlflow/experiments/update', { experiment_id: '7', new_name: 'n' }, editor7)).toEqual({
      method: 'POST',
      query: '',
      body: { experiment_id: '7', new_name: 'n' },
      contentType: 'application/json',
    });
    expect(await sent('GET', '/api/2.0/mlflow/experiments/get?experimentId=7', undefined, reader7)).toEqual({ method: 'GET', query: 'experiment_id=7' });
  });
});

describe('MlflowRestDecider: what MLflow gets', () => {
  it('a HEAD of a protobuf row goes as the GET it mirrors; an artifact HEAD and a HEAD of a Flask args row stay HEAD', async () => {
    expect(await sent('HEAD', '/api/2.0/mlflow/experiments/get?experiment_id=7', undefined, reader7)).toEqual({ method: 'GET', query: 'experiment_id=7' });
    expect((await forwardOf('HEAD', '/api/2.0/mlflow-artifacts/artifacts/7/model.pkl', undefined, reader7)).method).toBe('HEAD');
    expect(await sent('HEAD', '/get-artifact?run_id=run-7&path=model.pkl', undefined, reader7)).toEqual({ method: 'HEAD', query: 'run_id=run-7&path=model.pkl' });
  });

  it('a Flask args row takes its parameters as spelled only (no camelCase)', async () => {
    expect(await refusal('GET', '/get-artifact?runId=run-7&path=model.pkl', undefined, reader7)).toBe('400 validation_failed');
  });

  it('an artifact upload is streamed as it came (the client’s body and type), decided on the first segment of its path', async () => {
    const req = request('PUT', '/api/2.0/mlflow-artifacts/artifacts/7/dir/model.pkl', Buffer.from('bytes'));
    const decision = await decider.decide(req, targetOf(req, 'PUT'), editor7, 'PUT');
    expect(decision).toEqual({ forward: { method: 'PUT', query: '', body: req.body, contentType: undefined } });
    expect(await refusal('PUT', '/api/2.0/mlflow-artifacts/artifacts/7/dir/model.pkl', Buffer.from('bytes'), reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts/dir/7/model.pkl', undefined, admin)).toBe('403 insufficient_role (artifact_path)');
  });

  it('an artifact listing names its experiment by the first segment of `path`, which it needs; READ on it is enough', async () => {
    expect(await sent('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/dir', undefined, reader7)).toEqual({ method: 'GET', query: 'path=7%2Fdir' });
    expect(await sent('GET', '/api/2.0/mlflow-artifacts/artifacts?path=/7//dir/', undefined, reader7)).toEqual({ method: 'GET', query: 'path=%2F7%2F%2Fdir%2F' });
    // A listing is a protobuf GET: its HEAD goes as that GET.
    expect(await sent('HEAD', '/api/2.0/mlflow-artifacts/artifacts?path=7/dir', undefined, reader7)).toEqual({ method: 'GET', query: 'path=7%2Fdir' });
    // A path that does not normalise (a stray %) names no experiment.
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/%25zz', undefined, admin)).toBe('400 validation_failed');
    // The whole first segment names the experiment: 78 is not 7.
    expect(await sent('GET', '/api/2.0/mlflow-artifacts/artifacts?path=78/dir', undefined, who('reader-78'))).toEqual({ method: 'GET', query: 'path=78%2Fdir' });
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=78/dir', undefined, reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts/78/model.pkl', undefined, reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=8/dir', undefined, reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/dir', undefined, stranger)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/../8/dir', undefined, reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=dir/7', undefined, admin)).toBe('403 insufficient_role (artifact_path)');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts', undefined, admin)).toBe('400 validation_failed');
    expect(await refusal('GET', '/api/2.0/mlflow-artifacts/artifacts?path=', undefined, admin)).toBe('400 validation_failed');
  });
});

describe('MlflowRestDecider: runs', () => {
  it('run_uuid (MLflow 1’s name) is decided and forwarded as run_id; both naming different runs, none, or a malformed one are refused', async () => {
    expect(await sent('POST', '/api/2.0/mlflow/runs/update', { run_uuid: 'run-7', status: 'FINISHED' }, editor7)).toEqual({
      method: 'POST',
      query: '',
      body: { run_id: 'run-7', status: 'FINISHED' },
      contentType: 'application/json',
    });
    expect(await sent('GET', '/api/2.0/mlflow/runs/get?run_uuid=run-7', undefined, reader7)).toEqual({ method: 'GET', query: 'run_id=run-7' });
    expect(await sent('POST', '/api/2.0/mlflow/runs/update', { run_id: 'run-7', run_uuid: 'run-7' }, editor7)).toEqual(
      expect.objectContaining({ body: { run_id: 'run-7' } }),
    );
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { run_id: 'run-7', run_uuid: 'run-8' }, editor78)).toBe('400 validation_failed');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { run_uuid: 'run-8', run_id: 'run-7' }, editor78)).toBe('400 validation_failed');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { status: 'FINISHED' }, admin)).toBe('400 validation_failed');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { run_id: '' }, admin)).toBe('400 validation_failed');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { run_id: 'run/7' }, admin)).toBe('400 validation_failed');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/update', { run_id: 'r'.repeat(65) }, admin)).toBe('400 validation_failed');
    expect(await sent('POST', '/api/2.0/mlflow/runs/update', { run_id: 'run-7' }, editor7)).toEqual(expect.objectContaining({ body: { run_id: 'run-7' } }));
  });

  it('a run MLflow does not know: 404 not_found (not a denial); a run of another experiment: 403 counted as permission', async () => {
    expect(await refusal('GET', '/api/2.0/mlflow/runs/get?run_id=run-unknown', undefined, admin)).toBe('404 not_found');
    expect(await refusal('GET', '/api/2.0/mlflow/runs/get?run_id=run-8', undefined, reader7)).toBe('403 insufficient_role (permission)');
  });

  it('logged models named beside a run (runs/outputs, log-batch metrics) must be of the run’s experiment', async () => {
    const outputs = (...models: Array<{ model_id?: string }>) => refusal('POST', '/api/2.0/mlflow/runs/outputs', { run_id: 'run-7', models }, editor78);
    const metrics = (...list: Array<{ model_id?: string }>) =>
      refusal('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: 'run-7', metrics: list.map((m) => ({ key: 'k', value: 1, ...m })) }, editor78);
    expect([
      await outputs({ model_id: 'm-7' }),
      await outputs({ model_id: 'm-7' }, { model_id: 'm-8' }),
      await outputs({ model_id: 'm-unknown' }),
      await outputs({ model_id: 'm.7' }),
      await outputs({}),
      await outputs({ model_id: '' }),
      await metrics({ model_id: 'm-7' }),
      await metrics({ model_id: 'm-8' }),
      await metrics({ model_id: '' }, {}),
      await metrics(),
    ]).toEqual([
      'not refused',
      '400 validation_failed',
      '404 not_found',
      '400 validation_failed',
      'not refused',
      'not refused',
      'not refused',
      '400 validation_failed',
      'not refused',
      'not refused',
    ]);
    // The models of both lists are checked together.
    expect(await refusal('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: 'run-8', metrics: [{ key: 'k', value: 1, model_id: 'm-8' }] }, editor78)).toBe(
      'not refused',
    );
  });

  it('mlflow.user: a run’s tag of it cannot be deleted; setting it writes the caller (a different value logged as replaced)', async () => {
    expect(await refusal('POST', '/api/2.0/mlflow/runs/delete-tag', { run_id: 'run-7', key: 'mlflow.user' }, editor7)).toBe('403 insufficient_role (identity_tag)');
    expect(await sent('POST', '/api/2.0/mlflow/runs/delete-tag', { run_id: 'run-7', key: 'team' }, editor7)).toEqual(
      expect.objectContaining({ body: { run_id: 'run-7', key: 'team' } }),
    );
    const setTag = async (key: string, value: string) =>
      ((await sent('POST', '/api/2.0/mlflow/runs/set-tag', { run_id: 'run-7', key, value }, editor7)).body as { value: string }).value;
    expect([await setTag('mlflow.user', 'root'), identityReplaced()]).toEqual(['editor-7', 1]);
    expect([await setTag('mlflow.user', 'editor-7'), identityReplaced()]).toEqual(['editor-7', 1]);
    expect([await setTag('team', 'root'), identityReplaced()]).toEqual(['root', 1]);
    // Only the set-tag row writes the caller: log-parameter's key mlflow.user is a parameter like any other.
    expect(await sent('POST', '/api/2.0/mlflow/runs/log-parameter', { run_id: 'run-7', key: 'mlflow.user', value: 'root' }, editor7)).toEqual(
      expect.objectContaining({ body: { run_id: 'run-7', key: 'mlflow.user', value: 'root' } }),
    );
    expect(await refusal('POST', '/api/2.0/mlflow/runs/set-tag', { run_id: 'run-7', key: 'mlflow.user', value: 'root' }, reader7)).toBe(
      '403 insufficient_role (permission)',
    );
  });

  it('log-batch: each metric’s run_id is the request’s run; a tags list gets mlflow.user = the caller only where it named one', async () => {
    const batch = (body: Record<string, unknown>) => sent('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: 'run-7', ...body }, editor7);
    expect(await refusal('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: 'run-7', metrics: [{ key: 'k', value: 1, run_id: 'run-8' }] }, editor78)).toBe(
      '400 validation_failed',
    );
    // One metric of another run among the request's own is enough.
    const mixed = [
      { key: 'k', value: 1, run_id: 'run-7' },
      { key: 'l', value: 1, run_id: 'run-8' },
    ];
    expect(await refusal('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: 'run-7', metrics: mixed }, editor78)).toBe('400 validation_failed');
    expect(
      (
        await batch({
          metrics: [
            { key: 'k', value: 1, run_id: 'run-7' },
            { key: 'l', value: 2 },
          ],
        })
      ).body,
    ).toEqual({
      run_id: 'run-7',
      metrics: [
        { key: 'k', value: 1, run_id: 'run-7' },
        { key: 'l', value: 2 },
      ],
    });
    expect((await batch({ params: [{ key: 'p', value: 'v' }] })).body).toEqual({ run_id: 'run-7', params: [{ key: 'p', value: 'v' }] });
    expect((await batch({ tags: [{ key: 't', value: 'v' }] })).body).toEqual({ run_id: 'run-7', tags: [{ key: 't', value: 'v' }] });
    expect(identityReplaced()).toBe(0);
    expect(
      (
        await batch({
          tags: [
            { key: 'mlflow.user', value: 'root' },
            { key: 't', value: 'v' },
          ],
        })
      ).body,
    ).toEqual({
      run_id: 'run-7',
      tags: [
        { key: 't', value: 'v' },
        { key: 'mlflow.user', value: 'editor-7' },
      ],
    });
    expect(identityReplaced()).toBe(1);
    expect((await batch({ tags: [{ key: 'mlflow.user', value: 'editor-7' }] })).body).toEqual({
      run_id: 'run-7',
      tags: [{ key: 'mlflow.user', value: 'editor-7' }],
    });
    expect(identityReplaced()).toBe(1);
    // Any one of several mlflow.user tags naming someone else is a replacement.
    const twice = [
      { key: 'mlflow.user', value: 'editor-7' },
      { key: 'mlflow.user', value: 'root' },
    ];
    expect((await batch({ tags: twice })).body).toEqual({ run_id: 'run-7', tags: [{ key: 'mlflow.user', value: 'editor-7' }] });
    expect(identityReplaced()).toBe(2);
  });

  it('several runs (get-history-bulk-interval): at least one, each decided on its experiment', async () => {
    const bulk = (query: string, caller: Principal) => refusal('GET', `/api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=m${query}`, undefined, caller);
    expect([
      await bulk('', admin),
      await bulk('&run_ids=run-7&run_ids=run-7', reader7),
      await bulk('&run_ids=run-7&run_ids=run-8', reader7),
      await bulk('&run_ids=run-7&run_ids=run-unknown', admin),
      await bulk('&run_ids=run/7', admin),
      await bulk('&run_ids=', admin),
    ]).toEqual(['400 validation_failed', 'not refused', '403 insufficient_role (permission)', '404 not_found', '400 validation_failed', '400 validation_failed']);
  });
});

describe('MlflowRestDecider: what creating something grants or remembers', () => {
  it('the creator of an experiment gets MANAGE on the id MLflow answers, and nothing for an answer without a numeric id', async () => {
    const creator = who('creator');
    const create = await forwardOf('POST', '/api/2.0/mlflow/experiments/create', { name: 'e' }, creator);
    expect(sentOf({ forward: create })).toEqual({ method: 'POST', query: '', body: { name: 'e' }, contentType: 'application/json' });
    expect(await create.inspect!({ experiment_id: '42' })).toBeUndefined();
    expect(await create.inspect!({ experiment_id: 43 })).toBeUndefined();
    expect(await create.inspect!({ experiment_id: '44/x' })).toBeUndefined();
    expect(await create.inspect!({ error_code: 'RESOURCE_ALREADY_EXISTS' })).toBeUndefined();
    expect([
      (await permissions.grant('42', 'creator'))?.permission,
      await permissions.grant('43', 'creator'),
      await permissions.grant('44/x', 'creator'),
      await permissions.grant('undefined', 'creator'),
    ]).toEqual(['MANAGE', undefined, undefined, undefined]);
    expect((await permissions.grant('42', 'creator'))?.grantedBy).toBe('creator');
    // The audit log names the one experiment created, and its creator.
    const created = jest.mocked(Logger.prototype.log).mock.calls.filter(([m]) => (m as { event?: string }).event === 'mlflow.experiment_created');
    expect(created.map(([m]) => m)).toEqual([{ event: 'mlflow.experiment_created', experiment: '42', username: 'creator' }]);
  });

  it('a run is created in the experiment named, else Default ("0"), with EDIT there; the caller is its user_id and mlflow.user', async () => {
    expect(await refusal('POST', '/api/2.0/mlflow/runs/create', { run_name: 'r' }, editor7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '7' }, reader7)).toBe('403 insufficient_role (permission)');
    expect(await refusal('POST', '/api/2.0/mlflow/runs/create', { experiment_id: 'seven' }, admin)).toBe('400 validation_failed');
    expect((await sent('POST', '/api/2.0/mlflow/runs/create', { run_name: 'r' }, editor0)).body).toEqual({
      run_name: 'r',
      experiment_id: '0',
      user_id: 'editor-0',
      tags: [{ key: 'mlflow.user', value: 'editor-0' }],
    });
    expect((await sent('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '', run_name: 'r' }, editor0)).body).toEqual(
      expect.objectContaining({ experiment_id: '0' }),
    );
    expect(identityReplaced()).toBe(0);
    expect(
      (
        await sent(
          'POST',
          '/api/2.0/mlflow/runs/create',
          {
            experiment_id: '7',
            user_id: 'root',
            tags: [
              { key: 'mlflow.user', value: 'root' },
              { key: 't', value: 'v' },
            ],
          },
          editor7,
        )
      ).body,
    ).toEqual({
      experiment_id: '7',
      user_id: 'editor-7',
      tags: [
        { key: 't', value: 'v' },
        { key: 'mlflow.user', value: 'editor-7' },
      ],
    });
    // The user_id and the tag each logged.
    expect(identityReplaced()).toBe(2);
    await sent('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '7', user_id: 'editor-7', tags: [{ key: 'mlflow.user', value: 'editor-7' }] }, editor7);
    expect(identityReplaced()).toBe(2);
  });

  it('a created run’s experiment is remembered as MLflow answered it, not as the request named it', async () => {
    const create = await forwardOf('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '7' }, editor7);
    client.experimentOfRun.mockClear();
    const answer = (run_id: unknown, experiment_id: unknown) => ({ run: { info: { run_id, experiment_id } } });
    expect(await create.inspect!(answer('new-run-a', '8'))).toBeUndefined();
    for (const a of [answer('new-run-b', 7), answer(7, '7'), answer('new/run', '7'), answer('new-run-c', 'x'), { run: {} }, {}]) {
      expect(await create.inspect!(a)).toBeUndefined();
    }
    expect(client.experimentOfRun).not.toHaveBeenCalled();
    expect([
      await permissions.experimentOfRun('new-run-a'),
      await permissions.experimentOfRun('new-run-b'),
      await permissions.experimentOfRun('new-run-c'),
      await permissions.experimentOfRun('new/run'),
      await permissions.experimentOfRun('7'),
    ]).toEqual(['8', undefined, undefined, undefined, undefined]);
    // Only new-run-a was known without asking MLflow.
    expect(client.experimentOfRun.mock.calls.map(([run]) => run)).toEqual(['new-run-b', 'new-run-c', 'new/run', '7']);
  });

  it('a logged model is created in an experiment the caller may edit, from a run of that experiment; MLflow’s answer is remembered', async () => {
    const create = (body: Record<string, unknown>, caller: Principal) => refusal('POST', '/api/2.0/mlflow/logged-models', body, caller);
    expect([
      await create({ name: 'm' }, admin),
      await create({ experiment_id: '7', name: 'm' }, reader7),
      await create({ experiment_id: '7', source_run_id: 'run-8' }, editor78),
      await create({ experiment_id: '7', source_run_id: 'run-7' }, editor78),
      await create({ experiment_id: '7', source_run_id: '' }, editor7),
      await create({ experiment_id: '7', source_run_id: 'run-unknown' }, editor7),
      await create({ experiment_id: '8', source_run_id: 'run-7' }, who('editor-8-only')),
    ]).toEqual([
      '400 validation_failed',
      '403 insufficient_role (permission)',
      '400 validation_failed',
      'not refused',
      'not refused',
      '404 not_found',
      '403 insufficient_role (permission)',
    ]);
    const forward = await forwardOf('POST', '/api/2.0/mlflow/logged-models', { experiment_id: '7', name: 'm' }, editor7);
    const answer = (model_id: unknown, experiment_id: unknown) => ({ model: { info: { model_id, experiment_id } } });
    client.experimentOfModel.mockClear();
    for (const a of [answer('m-new-a', '8'), answer('m-new-b', 8), answer(5, '7'), answer('m/new', '7'), answer('m-new-c', 'x'), { model: {} }, {}]) {
      expect(await forward.inspect!(a)).toBeUndefined();
    }
    expect(client.experimentOfModel).not.toHaveBeenCalled();
    expect([
      await permissions.experimentOfModel('m-new-a'),
      await permissions.experimentOfModel('m-new-b'),
      await permissions.experimentOfModel('m-new-c'),
      await permissions.experimentOfModel('m/new'),
      await permissions.experimentOfModel('5'),
    ]).toEqual(['8', undefined, undefined, undefined, undefined]);
    expect(client.experimentOfModel.mock.calls.map(([m]) => m)).toEqual(['m-new-b', 'm-new-c', 'm/new', '5']);
  });
});

describe('MlflowRestDecider: logged models, experiments by name, searches', () => {
  it('a logged model of the path: its id well-formed and known, the body’s model_id the path’s (set where MLflow reads it)', async () => {
    expect(await refusal('GET', '/api/2.0/mlflow/logged-models/m.7', undefined, admin)).toBe('400 validation_failed');
    expect(await refusal('GET', '/api/2.0/mlflow/logged-models/m-unknown', undefined, admin)).toBe('404 not_found');
    expect(await refusal('GET', '/api/2.0/mlflow/logged-models/m-8', undefined, reader7)).toBe('403 insufficient_role (permission)');
    expect(await sent('GET', '/api/2.0/mlflow/logged-models/m-7?allow_deleted=true', undefined, reader7)).toEqual({ method: 'GET', query: 'allow_deleted=true' });
    expect(await refusal('PATCH', '/api/2.0/mlflow/logged-models/m-7', { model_id: 'm-8', status: 'LOGGED_MODEL_READY' }, editor78)).toBe('400 validation_failed');
    expect((await sent('PATCH', '/api/2.0/mlflow/logged-models/m-7', { status: 'LOGGED_MODEL_READY' }, editor7)).body).toEqual({
      status: 'LOGGED_MODEL_READY',
      model_id: 'm-7',
    });
    expect((await sent('PATCH', '/api/2.0/mlflow/logged-models/m-7', { model_id: 'm-7' }, editor7)).body).toEqual({ model_id: 'm-7' });
    // tags: a body without model_id (MLflow reads the path's), none added.
    expect((await sent('PATCH', '/api/2.0/mlflow/logged-models/m-7/tags', { tags: [{ key: 't', value: 'v' }] }, editor7)).body).toEqual({
      tags: [{ key: 't', value: 'v' }],
    });
    expect(await refusal('DELETE', '/api/2.0/mlflow/logged-models/m-7', {}, editor7)).toBe('403 insufficient_role (permission)');
  });

  it('get-by-name: a name is needed; the experiment MLflow answers with must be readable (403 counted as permission)', async () => {
    expect(await refusal('GET', '/api/2.0/mlflow/experiments/get-by-name', undefined, admin)).toBe('400 validation_failed');
    expect(await refusal('GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=', undefined, admin)).toBe('400 validation_failed');
    const forward = await forwardOf('GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=e', undefined, reader7);
    const seen = async (answer: Record<string, unknown>) => {
      try {
        return (await forward.inspect!(answer)) ?? 'as MLflow answered';
      } catch (err) {
        return err instanceof ProblemException ? `${err.getStatus()} ${err.reason} (${counted.join(', ')})` : err;
      } finally {
        counted = [];
      }
    };
    expect([
      await seen({ experiment: { experiment_id: '7' } }),
      await seen({ experiment: { experiment_id: '8' } }),
      await seen({ experiment: { experiment_id: 7 } }),
      await seen({ experiment: {} }),
      await seen({}),
    ]).toEqual([
      'as MLflow answered',
      '403 insufficient_role (permission)',
      '403 insufficient_role (permission)',
      '403 insufficient_role (permission)',
      '403 insufficient_role (permission)',
    ]);
  });

  it('an experiment search lists the readable ones (ids as MLflow answers them, numbers too)', async () => {
    const forward = await forwardOf('GET', '/api/2.0/mlflow/experiments/search?max_results=10', undefined, reader7);
    expect(await forward.inspect!({ experiments: [{ experiment_id: '8' }, { experiment_id: 7 }, { experiment_id: '7', name: 'x' }, {}] })).toEqual({
      experiments: [{ experiment_id: 7 }, { experiment_id: '7', name: 'x' }],
    });
  });

  it('a run or logged-model search asks MLflow only about readable experiments (all of them well-formed) and lists only their items', async () => {
    expect(await refusal('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['7', 'x'] }, admin)).toBe('400 validation_failed');
    expect(await decide('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['8'] }, reader7)).toEqual({ answer: {} });
    expect(await decide('POST', '/api/2.0/mlflow/runs/search', {}, admin)).toEqual({ answer: {} });
    const forward = await forwardOf('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['8', '7'], max_results: 10 }, reader7);
    expect(sentOf({ forward })).toEqual({ method: 'POST', query: '', body: { experiment_ids: ['7'], max_results: 10 }, contentType: 'application/json' });
    expect(
      await forward.inspect!({ runs: [{ info: { run_id: 'a', experiment_id: '8' } }, { info: { run_id: 'b', experiment_id: '7' } }, {}, { info: {} }] }),
    ).toEqual({ runs: [{ info: { run_id: 'b', experiment_id: '7' } }] });
    const models = await forwardOf('POST', '/api/2.0/mlflow/logged-models/search', { experiment_ids: ['7', '8'] }, groupReader);
    expect(sentOf({ forward: models }).body).toEqual({ experiment_ids: ['7', '8'] });
    const ownModels = await forwardOf('POST', '/api/2.0/mlflow/logged-models/search', { experiment_ids: ['7', '8'] }, reader7);
    const model = (id: string, experiment_id: string) => ({ info: { model_id: id, experiment_id } });
    expect(await ownModels.inspect!({ models: [model('m-8', '8'), model('m-7', '7')] })).toEqual({ models: [model('m-7', '7')] });
    const datasets = await forwardOf('POST', '/api/2.0/mlflow/experiments/search-datasets', { experiment_ids: ['7', '8'] }, reader7);
    expect(sentOf({ forward: datasets }).body).toEqual({ experiment_ids: ['7'] });
    expect(await datasets.inspect!({ dataset_summaries: [{ experiment_id: '8', name: 'a' }, { experiment_id: 7, name: 'b' }, { name: 'c' }] })).toEqual({
      dataset_summaries: [{ experiment_id: 7, name: 'b' }],
    });
  });
});

describe('MlflowRestDecider: what the BFF answers itself', () => {
  it('the current user in MLflow’s basic-auth shape (an admin is one with MANAGE by group), the empty gateway and assistant', async () => {
    const answer = async (row: string, caller: Principal) => {
      const decision = await decide('GET', `/ajax-api/${row}`, undefined, caller);
      return 'answer' in decision ? decision.answer : 'forwarded';
    };
    expect(await answer('2.0/mlflow/users/current', admin)).toEqual({ user: { id: 'sub-admin', username: 'admin', is_admin: true }, is_basic_auth: false });
    expect(await answer('2.0/mlflow/users/current', groupReader)).toEqual({
      user: { id: 'sub-group-reader', username: 'group-reader', is_admin: false },
      is_basic_auth: false,
    });
    expect(await answer('2.0/mlflow/gateway-proxy', reader7)).toEqual({ endpoints: [] });
    expect(await answer('3.0/mlflow/assistant/config', reader7)).toEqual({ providers: {}, projects: {}, remote_access_allowed: false });
    expect(await answer('3.0/mlflow/assistant/providers', reader7)).toEqual({ providers: [], resolved: null, gateway_vendor_options: {} });
  });
});

describe('MlflowRestDecider: request bodies', () => {
  const update = (body: unknown) => refusal('POST', '/api/2.0/mlflow/experiments/update', body, editor7);

  it('a body of exactly 2 MiB is read; one byte more is 413 payload_too_large', async () => {
    const padded = (size: number) => {
      const json = JSON.stringify({ experiment_id: '7', new_name: '' });
      return Buffer.from(JSON.stringify({ experiment_id: '7', new_name: 'n'.repeat(size - json.length) }));
    };
    expect(padded(2 * 1024 * 1024).length).toBe(2 * 1024 * 1024);
    expect(await update(padded(2 * 1024 * 1024))).toBe('not refused');
    expect(await update(padded(2 * 1024 * 1024 + 1))).toBe('413 payload_too_large');
  });

  it('a body that cannot be read is 400; no body or only white space is an empty message; anything but a JSON object is 400', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    const req = { method: 'POST', headers: {}, raw: { url: '/mlflow/api/2.0/mlflow/experiments/update' }, body: broken } as unknown as FastifyRequest;
    expect(await refusal('POST', '/api/2.0/mlflow/experiments/update', undefined, editor7, req)).toBe('400 validation_failed');
    expect(await sent('POST', '/api/2.0/mlflow/experiments/create', undefined, reader7)).toEqual({
      method: 'POST',
      query: '',
      body: {},
      contentType: 'application/json',
    });
    expect(await sent('POST', '/api/2.0/mlflow/experiments/create', ' \n ', reader7)).toEqual(expect.objectContaining({ body: {} }));
    const create = (body: string) => refusal('POST', '/api/2.0/mlflow/experiments/create', body, reader7);
    expect([await create('null'), await create('5'), await create('"x"'), await create('[]'), await create('{"name":"e",}')]).toEqual([
      '400 validation_failed',
      '400 validation_failed',
      '400 validation_failed',
      '400 validation_failed',
      '400 validation_failed',
    ]);
  });
});
