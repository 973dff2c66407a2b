import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** What is tested is what ships: one Node version for the tests (scripts/node24.sh), the image and the declarations. */
describe('the Node runtime', () => {
  const pinned = /^NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(read('scripts/node24.sh'));

  it('scripts/node24.sh pins a Node 24 release', () => {
    expect(pinned?.[1]).toBe('24');
  });

  it('the Docker image runs the pinned version', () => {
    const image = /^ARG NODE_IMAGE=node:(\S+)$/m.exec(read('docker/Dockerfile'))?.[1];
    expect(image).toBe(`${pinned?.slice(1, 4).join('.')}-bookworm-slim`);
  });

  it('package.json declares Node 24 (engines, @types/node) and runs its scripts through scripts/node24.sh', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.engines.node).toBe('>=24');
    expect(pkg.devDependencies['@types/node']).toMatch(/^\^24\./);
    for (const name of ['setup', 'build', 'start', 'test', 'test:unit', 'test:integration', 'test:e2e', 'typecheck', 'lint', 'openapi', 'bench']) {
      expect(`${name}: ${pkg.scripts[name]}`).toContain('scripts/node24.sh');
    }
  });

  it('installs exactly the lock file: no `npm install` fallback in the setup or the image', () => {
    for (const file of ['scripts/setup.sh', 'docker/Dockerfile']) {
      expect(`${file}: ${read(file)}`).not.toMatch(/npm install/);
      expect(read(file)).toMatch(/npm ci /);
    }
  });
});
