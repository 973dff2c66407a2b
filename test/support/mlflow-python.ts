import { execFile } from 'node:child_process';
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
