import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

/** One MLflow version: docker/mlflow/VERSION is what scripts/setup-mlflow.sh installs for the tests and what compose deploys. */
describe('the pinned MLflow version', () => {
  const root = join(__dirname, '..', '..');
  const version = readFileSync(join(root, 'docker', 'mlflow', 'VERSION'), 'utf8').trim();

  it('is an exact MLflow 3 release', () => {
    expect(version).toMatch(/^3\.[0-9]+\.[0-9]+$/);
  });

  it('is the image tag of docker/compose.yaml’s mlflow service', () => {
    const compose = load(readFileSync(join(root, 'docker', 'compose.yaml'), 'utf8')) as { services: Record<string, { image?: string }> };
    expect(compose.services.mlflow.image).toBe(`ghcr.io/mlflow/mlflow:v${version}`);
  });
});
