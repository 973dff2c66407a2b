import { startTestBff, type TestBff } from '../support/app';
import { runPython } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * The real MLflow (docker/mlflow/VERSION) behind the BFF, driven by the real Python client
 * (client.py) with the sandbox issuer's tokens: MLFLOW_TRACKING_URI is the BFF's /mlflow and
 * MLFLOW_TRACKING_TOKEN the user's access token, as a notebook or a CI job would set them.
 */
describe('the Python mlflow client through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;

  /** A user with no group or role default: what they may do comes from their grants alone (creators get MANAGE). */
  const tokenOf = (username: string) =>
    bff.sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` } });

  const python = (token: string, scenario: string, args: Record<string, unknown> = {}) => runPython(mlflow.python, bff.url, token, scenario, args);

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({
      MLFLOW_URL: mlflow.url,
      MLFLOW_PUBLIC_PATHS: 'GET /health',
      MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }),
      LOG_LEVEL: 'silent',
    });
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  it('creates, tags, gets by name and finds an experiment', async () => {
    const alice = await tokenOf('alice-exp');
    const r = await python(alice, 'experiments', { name: 'py-experiments' });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ by_name: r.experiment_id, tags: { team: 'ml', stage: 'dev' }, searched: [r.experiment_id] });
    expect(r.artifact_location).toBe(`mlflow-artifacts:/${r.experiment_id}`);
  });

  it('logs a run: params, metrics with history, tags, the BFF-set mlflow.user', async () => {
    const alice = await tokenOf('alice-runs');
    const r = await python(alice, 'runs', { experiment: 'py-runs' });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({
      status: 'FINISHED',
      params: { alpha: '0.5', beta: '2', gamma: 'x' },
      metrics: { loss: 1 / 3, acc: 0.9, f1: 0.8 },
      user: 'alice-runs',
    });
    expect(r.history).toEqual([1, 0.5, 1 / 3]);
  });

  it('another user without a grant is refused with PERMISSION_DENIED, as the client reports it', async () => {
    const owner = await tokenOf('owner-denied');
    const made = await python(owner, 'runs', { experiment: 'py-private' });
    const stranger = await tokenOf('stranger-denied');
    const exp = await python(stranger, 'get_experiment', { experiment_id: made.experiment_id });
    expect(exp.error).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    const run = await python(stranger, 'get_run', { run_id: made.run_id });
    expect(run.error).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    const write = await python(stranger, 'log_metric', { run_id: made.run_id });
    expect(write.error).toMatchObject({ error_code: 'PERMISSION_DENIED' });
  });

  it('logs, lists and downloads artifacts (proxied by the server)', async () => {
    const alice = await tokenOf('alice-art');
    const r = await python(alice, 'artifacts', { experiment: 'py-artifacts', text: 'hello artifacts' });
    expect(r.error).toBeUndefined();
    expect(r.top).toEqual(['config.json', 'notes.txt', 'plots']);
    expect(r.plots).toEqual(['plots/a.csv']);
    expect(r.downloaded).toBe('hello artifacts');
    expect(r.files).toEqual(['config.json', 'notes.txt', 'plots/a.csv']);
  });

  it('logs a model (a logged model of MLflow 3) and loads it back by model URI and by run URI', async () => {
    const alice = await tokenOf('alice-model');
    const r = await python(alice, 'log_model', { experiment: 'py-models' });
    expect(r.error).toBeUndefined();
    expect(r.model_uri).toBe(`models:/${r.model_id}`);
    expect(r.prediction).toBeCloseTo(6);
    expect(r.by_run).toBeCloseTo(8);
    expect(r.searched).toContain(r.model_id);
  });

  it('pages through search results: every run and experiment once, pages full until the last', async () => {
    const alice = await tokenOf('alice-pages');
    const made = await python(alice, 'experiments', { name: 'py-pages' });
    const created = await python(alice, 'create_runs', { experiment: 'py-pages', count: 5 });
    // Another user's experiment, which alice must never see.
    await python(await tokenOf('bob-pages'), 'experiments', { name: 'py-pages-bob' });
    const r = await python(alice, 'paginate', { experiment: 'py-pages', page_size: 2 });
    expect(r.error).toBeUndefined();
    expect([...(r.run_ids as string[])].sort()).toEqual([...(created.run_ids as string[])].sort());
    expect(r.pages).toEqual([2, 2, 1]);
    expect(r.experiments).toEqual([made.experiment_id]);
  });
});
