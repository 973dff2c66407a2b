import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MLFLOW_VERSION, mlflowServerArgs, REPO_ROOT, toolCache } from '../../scripts/mlflow-server';
import { freePort } from '../lib';

export const OIDC_AUTH_VERSION = readFileSync(join(REPO_ROOT, 'bench/mlflow-peers/MLFLOW_OIDC_AUTH_VERSION'), 'utf8').trim();

/** scripts/setup-mlflow-oidc-auth.sh's venv (scripts/setup-mlflow.sh's is mlflowVenv()). */
export const OIDC_AUTH_VENV = () => join(toolCache(), `venv-mlflow-oidc-auth-${OIDC_AUTH_VERSION}-mlflow-${MLFLOW_VERSION}`);

export interface MlflowServer {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `mlflow server` of a venv as docker/compose.yaml runs it (SQLite store, proxied artifacts, one
 * worker) on loopback, in a fresh temporary directory; `app` is an auth app (`oidc-auth`). Started as
 * the leader of its own process group (mlflow runs uvicorn as a child), stopped by signalling that
 * group, the directory removed.
 */
export async function startMlflow(venv: string, opts: { app?: string; env?: Record<string, string>; port?: number } = {}): Promise<MlflowServer> {
  const bin = join(venv, 'bin', 'mlflow');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/setup-mlflow.sh and scripts/setup-mlflow-oidc-auth.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-mlflow-'));
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, mlflowServerArgs({ port, dir, app: opts.app }), {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`mlflow server exited:\n${output.slice(-4000)}`);
    }
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mlflow server did not answer /health:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, child, output: () => output, stop };
}
