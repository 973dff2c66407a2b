import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { MLFLOW_VERSION, mlflowServerArgs } from '../../scripts/mlflow-server';

/** One MLflow version: docker/mlflow/VERSION is what scripts/setup-mlflow.sh installs for the tests and what compose deploys. */
describe('the pinned MLflow version', () => {
  const root = join(__dirname, '..', '..');
  const version = readFileSync(join(root, 'docker', 'mlflow', 'VERSION'), 'utf8').trim();

  it('is an exact MLflow 3 release', () => {
    expect(version).toMatch(/^3\.[0-9]+\.[0-9]+$/);
  });

  const compose = load(readFileSync(join(root, 'docker', 'compose.yaml'), 'utf8')) as { services: Record<string, { image?: string; command: string[] }> };

  it('is the image tag of docker/compose.yaml’s mlflow service', () => {
    expect(compose.services.mlflow.image).toBe(`ghcr.io/mlflow/mlflow:v${version}`);
    expect(MLFLOW_VERSION).toBe(version);
  });

  it('is started by the tests and the bench with compose’s flags (SQLite store, proxied artifacts), on loopback', () => {
    const flags = (args: string[]) => args.map((a) => a.split('=')[0]);
    const [bin, ...composeArgs] = compose.services.mlflow.command;
    const ours = mlflowServerArgs({ port: 5000, dir: '/data' });
    expect(bin).toBe('mlflow');
    // Compose adds --allowed-hosts for its service name; here MLflow listens on loopback, with one worker.
    expect(flags(ours).filter((f) => f !== '--workers')).toEqual(flags(composeArgs).filter((f) => f !== '--allowed-hosts'));
    expect(ours).toEqual(expect.arrayContaining(['--host=127.0.0.1', '--backend-store-uri=sqlite:////data/mlflow.db', '--serve-artifacts']));
  });
});
