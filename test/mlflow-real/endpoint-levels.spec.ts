import { startTestBff, type TestBff } from '../support/app';
import { startRealMlflow, WEBHOOK_TEST_ENV, type RealMlflow } from '../support/mlflow-server';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { REAL_ROW_CASES, type Ids } from './row-cases';
import { LEVEL_SCORER, registerScorerBody, webhookBody } from './scorer-row-cases';
import { newTraceId, otlpJsonSpan, startTraceBody } from './trace-row-cases';
import { usersAtEachLevel, type Level, mlflowUserToken } from '../support/mlflow-levels';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * The rows of the endpoint table the sandbox MLflow does not serve (row-cases.ts), against the real
 * MLflow: each refuses the level just below its own (403 insufficient_role, error_code
 * PERMISSION_DENIED) and allows exactly its level (MLflow answers 200); searches leave out what the
 * caller may not read. Each level user has the level on the experiment and on the registered model.
 */
describe('real MLflow: every MLflow 3 row of the endpoint table needs exactly its level', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let receiver: WebhookReceiver;
  const tokens = new Map<Level, string>();
  let admin = '';
  const ids: Ids = {
    experiment: '',
    run: '',
    model: '',
    registered: 'level-registered',
    trace: newTraceId(),
    assessment: '',
    webhook: '',
    webhookUrl: '',
    dataset: '',
    spareDataset: '',
  };

  async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
    const res = await fetch(`${bff.url}/mlflow${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = {};
    }
    return { status: res.status, json, text };
  }

  beforeAll(async () => {
    [mlflow, receiver] = await Promise.all([startRealMlflow({ env: WEBHOOK_TEST_ENV }), startWebhookReceiver()]);
    ids.webhookUrl = receiver.url;
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    // Tokens for the whole file (an hour): on a loaded machine, the cases outlast Keycloak's 5 minutes.
    const as = (username: string) => mlflowUserToken(bff.sandbox.issuer, username);
    const owner = await as('level-owner');
    ids.experiment = (await call('POST', '/api/2.0/mlflow/experiments/create', owner, { name: 'levels' })).json.experiment_id as string;
    ids.run = ((await call('POST', '/api/2.0/mlflow/runs/create', owner, { experiment_id: ids.experiment })).json.run as { info: { run_id: string } }).info.run_id;
    ids.model = (
      (await call('POST', '/api/2.0/mlflow/logged-models', owner, { experiment_id: ids.experiment, name: 'm', source_run_id: ids.run })).json.model as {
        info: { model_id: string };
      }
    ).info.model_id;
    const put = await fetch(`${bff.url}/mlflow/api/2.0/mlflow-artifacts/artifacts/${ids.experiment}/models/${ids.model}/artifacts/MLmodel`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'text/plain' },
      body: 'flavors: {}\n',
    });
    const registered = await call('POST', '/api/2.0/mlflow/registered-models/create', owner, { name: ids.registered });
    const version = await call('POST', '/api/2.0/mlflow/model-versions/create', owner, {
      name: ids.registered,
      source: `models:/${ids.model}`,
      model_id: ids.model,
      run_id: ids.run,
    });
    // A dataset the run was logged with, and two evaluation datasets of the experiment.
    const inputs = await call('POST', '/api/2.0/mlflow/runs/log-inputs', owner, {
      run_id: ids.run,
      datasets: [{ dataset: { name: 'levels-data', digest: 'd1', source_type: 'local', source: '{}' } }],
    });
    const dataset = async (name: string) =>
      (
        (await call('POST', '/api/3.0/mlflow/datasets/create', owner, { name, experiment_ids: [ids.experiment] })).json.dataset as
          { dataset_id?: string } | undefined
      )?.dataset_id ?? '';
    ids.dataset = await dataset('levels-eval');
    ids.spareDataset = await dataset('levels-spare');
    expect([inputs.status, ids.dataset, ids.spareDataset]).toEqual([200, expect.stringMatching(/^d-/), expect.stringMatching(/^d-/)]);
    const trace = await call('POST', '/api/3.0/mlflow/traces', owner, startTraceBody(ids.experiment, ids.trace));
    // The trace's span, straight to MLflow (traces/get and batchGet read the spans from its store).
    const spans = await fetch(`${mlflow.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': ids.experiment },
      body: otlpJsonSpan(ids.trace, 'level-root'),
    });
    const assessment = await call('POST', `/api/3.0/mlflow/traces/${ids.trace}/assessments`, owner, {
      assessment: { assessment_name: 'quality', source: { source_type: 'HUMAN', source_id: 'level-owner' }, feedback: { value: 'good' } },
    });
    ids.assessment = (assessment.json.assessment as { assessment_id?: string } | undefined)?.assessment_id ?? '';
    // A scorer with two versions (the owner registers both), and a webhook an admin made (ADMIN role: MANAGE on every experiment).
    const scorer = [];
    for (let v = 0; v < 2; v++)
      scorer.push((await call('POST', '/api/3.0/mlflow/scorers/register', owner, registerScorerBody(ids.experiment, LEVEL_SCORER))).status);
    admin = await bff.sandbox.issuer.issueToken({ user: 'admin', expiresInS: 3600, claims: { preferred_username: 'level-admin', sub: 'sub-level-admin' } });
    const webhook = await call('POST', '/api/2.0/mlflow/webhooks', admin, webhookBody('level-webhook', receiver.url));
    ids.webhook = (webhook.json.webhook as { webhook_id?: string } | undefined)?.webhook_id ?? '';
    expect([scorer, webhook.status]).toEqual([[200, 200], 200]);
    expect([ids.experiment, ids.run, ids.model, put.status, registered.status, version.status, trace.status, spans.status, ids.assessment]).toEqual([
      expect.any(String),
      expect.any(String),
      expect.stringMatching(/^m-/),
      200,
      200,
      200,
      200,
      200,
      expect.stringMatching(/^a-/),
    ]);
    // Each level user has that level on the experiment and on the registered model.
    const levels = await usersAtEachLevel(bff.url, owner, [`experiments/${ids.experiment}`, `registered-models/${ids.registered}`], 'level', as);
    for (const [level, token] of levels) tokens.set(level, token);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
    await receiver?.close();
  });

  it('refuses the level just below a row’s and allows exactly its level', async () => {
    const below: Record<string, Level> = { READ: 'NO_PERMISSIONS', EDIT: 'READ', MANAGE: 'EDIT' };
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const c of REAL_ROW_CASES) {
      const { path, body } = c.request(ids);
      const name = `${c.method} ${c.row}`;
      if (c.need === 'ANY') {
        const r = await call(c.method, path, tokens.get('NO_PERMISSIONS')!, body);
        outcomes.push(`${name}: no permission → ${r.status}`);
        expected.push(`${name}: no permission → 200`);
        continue;
      }
      if (c.need === 'FILTER') {
        const hidden = await call(c.method, path, tokens.get('NO_PERMISSIONS')!, body);
        const shown = await call(c.method, path, tokens.get('READ')!, body);
        const marker = c.marker?.(ids) ?? ids.model;
        const has = (text: string) => (c.method === 'HEAD' ? 'head' : text.includes(marker) ? 'listed' : 'left out');
        outcomes.push(`${name}: below READ → ${hidden.status} ${has(hidden.text)}, READ → ${shown.status} ${has(shown.text)}`);
        expected.push(`${name}: below READ → 200 ${c.method === 'HEAD' ? 'head' : 'left out'}, READ → 200 ${c.method === 'HEAD' ? 'head' : 'listed'}`);
        continue;
      }
      if (c.need === 'ADMIN') {
        // MANAGE on the experiment and the registered model is not enough: admins only, as MLflow's auth app says.
        const refused = await call(c.method, path, tokens.get('MANAGE')!, body);
        const allowed = await call(c.method, path, admin, body);
        const code = c.method === 'HEAD' ? '' : ` ${String(refused.json.error_code)}`;
        outcomes.push(`${name}: MANAGE → ${refused.status}${code}, admin → ${allowed.status}${allowed.status === 200 ? '' : ` ${allowed.text.slice(0, 200)}`}`);
        expected.push(`${name}: MANAGE → 403${c.method === 'HEAD' ? '' : ' PERMISSION_DENIED'}, admin → 200`);
        continue;
      }
      const refused = await call(c.method, path, tokens.get(below[c.need])!, body);
      const allowed = await call(c.method, path, tokens.get(c.need)!, body);
      const code = c.method === 'HEAD' ? '' : ` ${String(refused.json.error_code)}`;
      outcomes.push(
        `${name}: ${below[c.need]} → ${refused.status}${code}, ${c.need} → ${allowed.status}${allowed.status === 200 ? '' : ` ${allowed.text.slice(0, 200)}`}`,
      );
      expected.push(`${name}: ${below[c.need]} → 403${c.method === 'HEAD' ? '' : ' PERMISSION_DENIED'}, ${c.need} → 200`);
    }
    expect(outcomes).toEqual(expected);
  });

  it('a logged model of another experiment cannot be attached to a run, nor created from another experiment’s run', async () => {
    const mine = await bff.sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: 'level-other', sub: 'sub-level-other' } });
    const exp = (await call('POST', '/api/2.0/mlflow/experiments/create', mine, { name: 'levels-other' })).json.experiment_id as string;
    const run = ((await call('POST', '/api/2.0/mlflow/runs/create', mine, { experiment_id: exp })).json.run as { info: { run_id: string } }).info.run_id;
    // level-other has READ on the shared experiment: enough to see the model, not to make it an output of their run.
    await fetch(`${bff.url}/mlflow-permissions/experiments/${ids.experiment}/users/level-other`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.get('MANAGE')!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permission: 'READ' }),
    });
    const outputs = await call('POST', '/api/2.0/mlflow/runs/outputs', mine, { run_id: run, models: [{ model_id: ids.model, step: 0 }] });
    const created = await call('POST', '/api/2.0/mlflow/logged-models', mine, { experiment_id: exp, source_run_id: ids.run });
    expect([outputs.status, outputs.json.error_code, created.status]).toEqual([400, 'INVALID_PARAMETER_VALUE', 403]);
  });

  it('a trace of another experiment cannot be started again in one’s own (MLflow would move it there)', async () => {
    const owner = tokens.get('MANAGE')!;
    const mine = await bff.sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: 'level-thief', sub: 'sub-level-thief' } });
    const exp = (await call('POST', '/api/2.0/mlflow/experiments/create', mine, { name: 'levels-thief' })).json.experiment_id as string;
    const theirs = newTraceId();
    const started = await call('POST', '/api/3.0/mlflow/traces', owner, startTraceBody(ids.experiment, theirs));
    const moved = await call('POST', '/api/3.0/mlflow/traces', mine, startTraceBody(exp, theirs));
    const own = await call('POST', '/api/3.0/mlflow/traces', mine, startTraceBody(exp, newTraceId()));
    const where = await call('GET', `/api/3.0/mlflow/traces/${theirs}`, owner);
    const location = (where.json.trace as { trace_info: { trace_location: { mlflow_experiment: { experiment_id: string } } } }).trace_info.trace_location;
    expect([started.status, moved.status, moved.json.error_code, own.status, location.mlflow_experiment.experiment_id]).toEqual([
      200,
      403,
      'PERMISSION_DENIED',
      200,
      ids.experiment,
    ]);
  });
});
