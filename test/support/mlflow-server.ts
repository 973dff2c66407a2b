import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MLFLOW_VERSION, mlflowServerArgs, mlflowVenv } from '../../scripts/mlflow-server';
import { freePort } from './net';
import { spawnProcess, type ManagedProcess } from './processes';

export interface RealMlflow {
  url: string;
  version: string;
  /** The python of the venv (the real MLflow client). */
  python: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * The real MLflow tracking server (scripts/setup-mlflow.sh installs it), as docker/compose.yaml runs
 * it: a SQLite store and proxied artifacts (`--serve-artifacts`) in a fresh temporary directory, on
 * loopback, no authentication of its own. Ready when `/health` answers; stopped by pid, the
 * directory removed. `env` adds to its environment (WEBHOOK_TEST_ENV).
 */
export async function startRealMlflow(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<RealMlflow> {
  const venv = mlflowVenv();
  const version = MLFLOW_VERSION;
  const dir = await mkdtemp(join(tmpdir(), 'bff-mlflow-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = await spawnProcess(join(venv, 'bin', 'mlflow'), {
    name: `mlflow server ${version}`,
    args: mlflowServerArgs({ port, dir }),
    cwd: dir,
    env: opts.env,
    // The database migrations and the first import take a while on a shared machine.
    timeoutMs: 600_000,
    ready: async () => {
      try {
        const res = await fetch(`${url}/health`);
        return res.ok;
      } catch {
        return false;
      }
    },
  });
  return {
    url,
    version,
    python: join(venv, 'bin', 'python'),
    process: proc,
    stop: async () => {
      await proc.stop({ graceMs: 10_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * MLflow delivers webhooks to public https URLs only; a test's receiver is an http server on
 * loopback, which these let MLflow reach (MLflow's own settings, for the test's server only).
 */
export const WEBHOOK_TEST_ENV: NodeJS.ProcessEnv = { MLFLOW_WEBHOOK_ALLOWED_SCHEMES: 'http,https', MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS: 'true' };
