import { startTestBff, type TestBff } from '../support/app';
import { usersAtEachLevel, mlflowUserToken } from '../support/mlflow-levels';
import { runPython } from '../support/mlflow-python';
import { startRealMlflow, WEBHOOK_TEST_ENV, type RealMlflow } from '../support/mlflow-server';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

type Outcome = { ok: boolean; value?: unknown; error_code?: string | null; error?: string };
/** A step's outcome as the client saw it: its value, or MLflow's error_code. */
const seen = (o: unknown) => {
  const r = o as Outcome;
  return r.ok ? { ok: r.value ?? null } : { refused: r.error_code };
};
const outcomes = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, seen(v)]));

/**
 * MLflow 3's registered scorers (`mlflow.genai`) and the model registry's webhooks (MlflowClient), with the
 * real Python client through the BFF against the real MLflow: what MLflow's own auth app allows each
 * user, and a refusal the client reports as PERMISSION_DENIED.
 */
describe('scorers and webhooks with the Python client through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let receiver: WebhookReceiver;
  let experiment = '';
  let tokens: Map<string, string>;
  const python = (token: string, scenario: string, args: Record<string, unknown>) => runPython(mlflow.python, bff.url, token, scenario, args);

  beforeAll(async () => {
    [mlflow, receiver] = await Promise.all([startRealMlflow({ env: WEBHOOK_TEST_ENV }), startWebhookReceiver()]);
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    const as = (username: string) => mlflowUserToken(bff.sandbox.issuer, username);
    const owner = await as('scorer-owner');
    const made = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scorers' }),
    });
    experiment = ((await made.json()) as { experiment_id: string }).experiment_id;
    tokens = await usersAtEachLevel(bff.url, owner, experiment, 'scorer', as);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
    await receiver?.close();
  });

  it('EDIT registers, lists, gets and deletes a scorer; READ lists and gets it but may not register or delete (PERMISSION_DENIED); no grant sees nothing', async () => {
    const edit = await python(tokens.get('EDIT')!, 'scorers', {
      experiment_id: experiment,
      name: 'polite',
      steps: ['register', 'list', 'get', 'get_v1', 'delete_v1', 'decorated'],
    });
    const read = await python(tokens.get('READ')!, 'scorers', { experiment_id: experiment, name: 'polite', steps: ['register', 'list', 'get', 'delete'] });
    const none = await python(tokens.get('NO_PERMISSIONS')!, 'scorers', { experiment_id: experiment, name: 'polite', steps: ['list', 'get'] });
    // The registrant is MANAGE of the scorer (as MLflow's auth app makes them): the whole scorer goes.
    const gone = await python(tokens.get('EDIT')!, 'scorers', { experiment_id: experiment, name: 'polite', steps: ['delete', 'list_after'] });
    expect([edit.error, read.error, none.error, gone.error]).toEqual([undefined, undefined, undefined, undefined]);
    expect(outcomes(edit)).toEqual({
      register: { ok: ['polite', 'polite'] },
      list: { ok: ['polite'] },
      get: { ok: ['Be brief.'] },
      get_v1: { ok: ['Be polite.'] },
      delete_v1: { ok: null },
      // MLflow's own server refuses a decorated function's code (MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS is off): the BFF forwarded it.
      decorated: { refused: 'INVALID_PARAMETER_VALUE' },
    });
    expect(outcomes(read)).toEqual({
      register: { refused: 'PERMISSION_DENIED' },
      list: { ok: ['polite'] },
      get: { ok: ['Be brief.'] },
      delete: { refused: 'PERMISSION_DENIED' },
    });
    expect(outcomes(none)).toEqual({ list: { refused: 'PERMISSION_DENIED' }, get: { refused: 'PERMISSION_DENIED' } });
    expect(outcomes(gone)).toEqual({ delete: { ok: null }, list_after: { ok: [] } });
  });

  it('a listing of every experiment’s scorers shows those of readable experiments only', async () => {
    const other = await mlflowUserToken(bff.sandbox.issuer, 'scorer-stranger');
    const theirs = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scorers-elsewhere' }),
    });
    const elsewhere = ((await theirs.json()) as { experiment_id: string }).experiment_id;
    const mine = await python(tokens.get('EDIT')!, 'scorers', { experiment_id: experiment, name: 'mine', steps: ['register'] });
    const hidden = await python(other, 'scorers', { experiment_id: elsewhere, name: 'hidden', steps: ['register'] });
    const list = async (token: string) => {
      const res = await fetch(`${bff.url}/mlflow/ajax-api/3.0/mlflow/scorers/list`, { headers: { authorization: `Bearer ${token}` } });
      return [res.status, (((await res.json()) as { scorers?: Array<{ scorer_name: string }> }).scorers ?? []).map((s) => s.scorer_name).sort()];
    };
    expect([seen(mine.register), seen(hidden.register)]).toEqual([{ ok: ['mine', 'mine'] }, { ok: ['hidden', 'hidden'] }]);
    expect([await list(tokens.get('READ')!), await list(other), await list(tokens.get('NO_PERMISSIONS')!)]).toEqual([
      [200, ['mine']],
      [200, ['hidden']],
      [200, []],
    ]);
  });

  it('webhooks: an admin creates, lists, gets, updates, tests (MLflow delivers) and deletes one; MANAGE on an experiment is refused with PERMISSION_DENIED', async () => {
    const admin = await bff.sandbox.issuer.issueToken({ user: 'admin', expiresInS: 3600, claims: { preferred_username: 'hook-admin', sub: 'sub-hook-admin' } });
    const made = await python(admin, 'webhooks', { name: 'py-hook', url: receiver.url, steps: ['create', 'list', 'get', 'update', 'test'] });
    const id = (made.create as Outcome).value as string;
    const manager = await python(tokens.get('MANAGE')!, 'webhooks', {
      name: 'not-mine',
      url: receiver.url,
      webhook_id: id,
      steps: ['create', 'list', 'get', 'update', 'test', 'delete'],
    });
    const removed = await python(admin, 'webhooks', { webhook_id: id, steps: ['delete', 'get_after'] });
    expect(outcomes(made)).toEqual({
      create: { ok: expect.any(String) },
      list: { ok: ['py-hook'] },
      get: { ok: receiver.url },
      update: { ok: 'DISABLED' },
      test: { ok: true },
    });
    expect(outcomes(manager)).toEqual(
      Object.fromEntries(['create', 'list', 'get', 'update', 'test', 'delete'].map((step) => [step, { refused: 'PERMISSION_DENIED' }])),
    );
    expect(outcomes(removed)).toEqual({ delete: { ok: null }, get_after: { refused: 'RESOURCE_DOES_NOT_EXIST' } });
    // MLflow's test delivery reached the receiver, signed with the secret the BFF forwarded (never in its logs).
    expect(receiver.deliveries.map((d) => [d.path, typeof d.headers['x-mlflow-signature']])).toEqual([['/hook', 'string']]);
  });
});
