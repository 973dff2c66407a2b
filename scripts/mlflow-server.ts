import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The one description of how this repository runs the real MLflow outside Docker (the test tier
 * test/mlflow-real and `npm run bench:mlflow-peers`): the version docker/compose.yaml deploys, the
 * venv scripts/setup-mlflow.sh makes, and `mlflow server`'s arguments as compose passes them.
 */

/** The repository root, from scripts/ (ts-jest) or dist/app/scripts (the build). */
export const REPO_ROOT = (() => {
  const root = [join(__dirname, '..'), join(__dirname, '..', '..', '..')].find((d) => existsSync(join(d, 'docker', 'mlflow', 'VERSION')));
  if (!root) throw new Error('docker/mlflow/VERSION not found: run from the repository');
  return root;
})();

/** The MLflow version of the tests, the bench and docker/compose.yaml's image tag (docker/mlflow/VERSION). */
export const MLFLOW_VERSION = readFileSync(join(REPO_ROOT, 'docker', 'mlflow', 'VERSION'), 'utf8').trim();

/** The cache of fetched tools (PLATFORM_BFF_CACHE, else ~/.cache/platform-bff). */
export const toolCache = () => process.env.PLATFORM_BFF_CACHE ?? join(homedir(), '.cache', 'platform-bff');

/** scripts/setup-mlflow.sh's venv: `mlflow`, and `python` with MLflow's client and scikit-learn. */
export const mlflowVenv = () => join(toolCache(), `venv-mlflow-${MLFLOW_VERSION}`);

/**
 * `mlflow server`'s arguments as docker/compose.yaml's mlflow service has them (a SQLite store, proxied
 * artifacts with `--serve-artifacts`), on loopback, with the store and artifacts in `dir` and one worker
 * (a shared machine). Compose adds `--allowed-hosts` for its service name; on loopback MLflow's default
 * (localhost) is the one needed. `app`: an auth app (`--app-name`, e.g. mlflow-oidc-auth's `oidc-auth`).
 */
export function mlflowServerArgs(opts: { port: number; dir: string; app?: string }): string[] {
  return [
    'server',
    '--host=127.0.0.1',
    `--port=${opts.port}`,
    `--backend-store-uri=sqlite:///${join(opts.dir, 'mlflow.db')}`,
    `--artifacts-destination=${join(opts.dir, 'artifacts')}`,
    '--serve-artifacts',
    '--workers=1',
    ...(opts.app ? ['--app-name', opts.app] : []),
  ];
}
