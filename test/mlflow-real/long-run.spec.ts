import { startSandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { installAuthPlugin, runPython, type PyResult } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow, the Python client and runs longer than two token lifetimes.
jest.setTimeout(900_000);

/** The realm's access token lifetime here (Keycloak's is 300 s): short, so that a run outlives two tokens. */
const LIFESPAN_S = 20;
/** Every job logs one metric a second for this long: more than two lifetimes. */
const RUN_S = 2.5 * LIFESPAN_S;

interface Call {
  at: number;
  ok: boolean;
  error_code?: string | null;
  error?: string;
}
interface Outcome {
  ok: boolean;
  value?: unknown;
  error_code?: string | null;
  error?: string;
}
type LongRun = PyResult & { experiment_id: string; run_id: string; calls: Call[]; artifact: Outcome; end: Outcome; history: Outcome; token_exp?: number };

/**
 * A job longer than its access token's life, with the real Python client through the BFF (issue 18
 * item 4): the sandbox issuer gives 20 s tokens and the BFF tolerates no clock skew, so every job
 * below outlives two tokens. With the repository's auth plugin (clients/python/platform-bff-mlflow-auth,
 * MLFLOW_TRACKING_AUTH=platform-bff) every call of the job succeeds, for a service account (client
 * credentials) and for a user (refresh token); with MLFLOW_TRACKING_TOKEN alone the calls after the
 * token's exp are refused with UNAUTHENTICATED.
 */
describe('a run longer than a token’s life, with the real Python client through the BFF', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let plugin: Awaited<ReturnType<typeof installAuthPlugin>>;
  let sharedExperiment = '';

  const issuer = () => bff.sandbox.issuer;
  const ciSecret = () => issuer().clients.get('ci-pipeline')!.secret!;
  const ownerToken = () => issuer().issueToken({ user: 'viewer', claims: { preferred_username: 'lr-owner', sub: 'sub-lr-owner' } });

  async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${bff.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await ownerToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** A long run as the job would start it: no MLFLOW_TRACKING_TOKEN unless `env` sets one. */
  const longRun = async (args: Record<string, unknown>, env: Record<string, string>) =>
    (await runPython(mlflow.python, bff.url, '', 'long_run', { duration_s: RUN_S, interval_s: 1, ...args }, env)) as LongRun;

  /** The plugin's settings: installed on PYTHONPATH, turned on by MLflow's MLFLOW_TRACKING_AUTH. */
  const pluginEnv = (settings: Record<string, string>) => ({
    PYTHONPATH: plugin.pythonPath,
    MLFLOW_TRACKING_AUTH: 'platform-bff',
    PLATFORM_BFF_AUTH_TOKEN_URL: issuer().tokenEndpoint,
    ...settings,
  });

  const grants = (type: string) => issuer().stats.grants[type] ?? 0;

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    plugin = await installAuthPlugin(mlflow.python);
    const sandbox = await startSandbox({ accessTokenLifespanS: LIFESPAN_S });
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, AUTH_CLOCK_SKEW_S: '0', LOG_LEVEL: 'silent' }, { sandbox });
    // The owner's experiment, where the CI service account may log once granted EDIT (it has no group default).
    const made = await rest('POST', '/mlflow/api/2.0/mlflow/experiments/create', { name: 'long-runs-ci' });
    expect(made.status).toBe(200);
    sharedExperiment = made.json.experiment_id as string;
    const granted = await rest('PUT', `/mlflow-permissions/experiments/${sharedExperiment}/users/service-account-ci-pipeline`, { permission: 'EDIT' });
    expect(granted).toMatchObject({ status: 200, json: { username: 'service-account-ci-pipeline', permission: 'EDIT' } });
  });
  afterAll(async () => {
    await bff?.close();
    await bff?.sandbox.close();
    await mlflow?.stop();
    await plugin?.remove();
  });

  /** Everything the job did succeeded, and the owner reads back every metric it logged. */
  async function expectWholeRun(r: LongRun) {
    expect(r.calls.filter((c) => !c.ok)).toEqual([]);
    expect(r.calls.length).toBeGreaterThanOrEqual(RUN_S / 2);
    expect([r.artifact.ok, r.end.ok, r.history]).toEqual([true, true, { ok: true, value: r.calls.length }]);
  }

  it('a service account with the plugin (client credentials) logs for 2.5 token lifetimes; every call succeeds', async () => {
    const before = grants('client_credentials');
    const r = await longRun(
      { experiment_id: sharedExperiment },
      pluginEnv({ PLATFORM_BFF_AUTH_CLIENT_ID: 'ci-pipeline', PLATFORM_BFF_AUTH_CLIENT_SECRET: ciSecret() }),
    );
    await expectWholeRun(r);
    // A token renewed with half its life left: at least three for 2.5 lifetimes.
    expect(grants('client_credentials') - before).toBeGreaterThanOrEqual(3);
    // The owner sees the run, made by the service account (mlflow.user from its token), finished, with its artifact.
    const run = await rest('GET', `/mlflow/api/2.0/mlflow/runs/get?run_id=${r.run_id}`);
    const tags = (run.json as { run: { data: { tags: Array<{ key: string; value: string }> } } }).run.data.tags;
    expect(tags).toContainEqual({ key: 'mlflow.user', value: 'service-account-ci-pipeline' });
    expect(run.json).toMatchObject({ run: { info: { status: 'FINISHED', experiment_id: sharedExperiment } } });
    const files = await rest('GET', `/mlflow/api/2.0/mlflow/artifacts/list?run_id=${r.run_id}`);
    expect(files.json).toMatchObject({ files: [{ path: 'result.txt' }] });
  });

  it('a user with the plugin (a refresh token, rotated at each refresh) logs for 2.5 token lifetimes; every call succeeds', async () => {
    const login = await fetch(issuer().tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: 'platform-frontend', username: 'alice', password: 'alice' }),
    });
    const { refresh_token } = (await login.json()) as { refresh_token: string };
    const before = grants('refresh_token');
    const r = await longRun(
      { experiment: 'long-runs-alice' },
      pluginEnv({ PLATFORM_BFF_AUTH_CLIENT_ID: 'platform-frontend', PLATFORM_BFF_AUTH_REFRESH_TOKEN: refresh_token }),
    );
    await expectWholeRun(r);
    // Each refresh spent the refresh token it used (strict rotation): reusing one would have ended alice's session.
    expect(grants('refresh_token') - before).toBeGreaterThanOrEqual(3);
  });

  it('MLFLOW_TRACKING_TOKEN alone: the calls after the token’s exp are refused with UNAUTHENTICATED', async () => {
    const r = await longRun(
      { experiment_id: sharedExperiment, static_token: { token_url: issuer().tokenEndpoint, client_id: 'ci-pipeline', client_secret: ciSecret() } },
      {},
    );
    const exp = r.token_exp!;
    // A second either side of exp is left out: the job's and the BFF's clocks read it a moment apart.
    const before = r.calls.filter((c) => c.at < exp - 1);
    const after = r.calls.filter((c) => c.at > exp + 1);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(before.filter((c) => !c.ok)).toEqual([]);
    expect(after.map((c) => c.error_code)).toEqual(after.map(() => 'UNAUTHENTICATED'));
    // After the run's logging, uploading its artifact and ending it are refused too.
    expect([r.artifact, r.end]).toMatchObject([
      { ok: false, error_code: 'UNAUTHENTICATED' },
      { ok: false, error_code: 'UNAUTHENTICATED' },
    ]);
  });
});
