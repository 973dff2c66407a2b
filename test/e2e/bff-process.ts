import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/net';
import { spawnNode, type ManagedProcess } from '../support/processes';

/** The build under test: dist/main.js, or BFF_MAIN (a private build, e.g. tmp/<you>/main.js, when dist/ is shared). */
export const MAIN = process.env.BFF_MAIN ?? join(__dirname, '../../dist/main.js');

/**
 * The built BFF (`node dist/main.js`) in sandbox mode, as a new user runs it, with its printed demo tokens.
 * Its output is scanned for credentials after the test file (spawnNode, log-hygiene.setup.ts): the banner's
 * tokens, and the session secret set here, must appear nowhere else.
 */
export interface SandboxBff {
  url: string;
  proc: ManagedProcess;
  tokens: Record<'alice' | 'admin' | 'viewer', string>;
  stop(): Promise<void>;
}

export async function startSandboxBff(env: NodeJS.ProcessEnv = {}): Promise<SandboxBff> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const port = await freePort();
  const proc = await spawnNode(MAIN, {
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      KEYCLOAK_URL: '',
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      BFF_SESSION_SECRET: randomBytes(32).toString('base64url'),
      ...env,
    },
    readyLine: /Try: +curl/,
    timeoutMs: 30000,
  });
  const out = proc.stdout();
  const tokenOf = (user: string) => {
    const m = new RegExp(`${user} \\([^)]*\\):\\s*\\n\\s*(\\S+)`).exec(out);
    if (!m) throw new Error(`no demo token for ${user} in the banner:\n${out}`);
    return m[1];
  };
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    tokens: { alice: tokenOf('alice'), admin: tokenOf('admin'), viewer: tokenOf('viewer') },
    stop: async () => {
      await proc.stop();
    },
  };
}
