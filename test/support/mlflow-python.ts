import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What client.py printed: the scenario's result, or the MlflowException the client raised. */
export type PyResult = { error?: { error_code: string; message: string } } & Record<string, unknown>;

/**
 * Runs a scenario of test/mlflow-real/client.py with the real Python client (the venv's python):
 * MLFLOW_TRACKING_URI is the BFF's /mlflow and MLFLOW_TRACKING_TOKEN the user's access token, as a
 * notebook or a CI job would set them. `env` adds to (or replaces) those.
 */
export async function runPython(
  python: string,
  bffUrl: string,
  token: string,
  scenario: string,
  args: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<PyResult> {
  const childEnv = {
    ...process.env,
    MLFLOW_TRACKING_URI: `${bffUrl}/mlflow`,
    MLFLOW_TRACKING_TOKEN: token,
    // A refusal must reach the test as the client reports it, not after minutes of retries.
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
    MLFLOW_HTTP_REQUEST_TIMEOUT: '60',
    // No background trace export that outlives the scenario.
    MLFLOW_ENABLE_ASYNC_TRACE_LOGGING: 'false',
    PYTHONUNBUFFERED: '1',
    ...env,
  };
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    const child = execFile(
      python,
      [join(__dirname, '..', 'mlflow-real', 'client.py'), scenario, JSON.stringify(args)],
      { env: childEnv, maxBuffer: 16 * 1024 * 1024 },
      (err, out, errOut) => resolve({ stdout: out, stderr: errOut, code: err ? (child.exitCode ?? 1) : 0 }),
    );
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`client.py ${scenario} exited ${code}\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length)) as PyResult;
}

/** The repository's MLflow auth plugin (clients/python/platform-bff-mlflow-auth). */
export const AUTH_PLUGIN_DIR = join(__dirname, '..', '..', 'clients', 'python', 'platform-bff-mlflow-auth');

/**
 * Installs the auth plugin with the venv's pip, as a user would, into a fresh directory to put on
 * PYTHONPATH (its entry point is found there; the cached venv is left as it is). Offline: the build
 * backend (flit_core) comes from the venv, which scripts/setup-mlflow.sh provides.
 */
export async function installAuthPlugin(python: string): Promise<{ pythonPath: string; remove(): Promise<void> }> {
  const target = await mkdtemp(join(tmpdir(), 'bff-mlflow-auth-'));
  const args = [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '--no-deps',
    '--no-build-isolation',
    '--no-index',
    '--target',
    target,
    AUTH_PLUGIN_DIR,
  ];
  await new Promise<void>((resolve, reject) =>
    execFile(python, args, (err, _out, errOut) =>
      err ? reject(new Error(`pip install of the auth plugin failed (scripts/setup-mlflow.sh installs flit_core):\n${errOut.slice(-3000)}`)) : resolve(),
    ),
  );
  return { pythonPath: target, remove: () => rm(target, { recursive: true, force: true }) };
}
