import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net';
import { spawnNode } from '../support/processes';
import { MAIN } from './bff-process';

const ROOT = join(__dirname, '../..');

/** The IPv4 addresses something listens on at `port` (from /proc/net/tcp: hex address:port, state 0A = LISTEN). */
function listenAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`))
    .map((f) => {
      const hex = f[1].split(':')[0];
      return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
    });
}

describe('a first run, as a new user makes it', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bff-first-run-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads .env from the working directory (the process environment wins) and, in sandbox mode, listens on loopback only', async () => {
    const [port, fileIssuerPort, envIssuerPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, '.env'), `# copied from .env.example\nPORT=${port}\nSANDBOX_ISSUER_PORT=${fileIssuerPort}\n`);
    const proc = await spawnNode(MAIN, {
      cwd: dir,
      env: {
        PORT: undefined,
        HOST: undefined,
        KEYCLOAK_URL: '',
        NODE_ENV: 'development',
        SANDBOX_ISSUER_PORT: String(envIssuerPort),
        BFF_SESSION_SECRET: randomBytes(32).toString('base64url'),
      },
      readyLine: /Try: +curl/,
      timeoutMs: 30000,
    });
    try {
      expect(proc.stdout()).toContain(`http://127.0.0.1:${port}/docs`); // PORT from .env
      expect(proc.stdout()).toMatch(new RegExp(`Issuer: +http://127\\.0\\.0\\.1:${envIssuerPort}/`)); // the environment's value, not the file's
      expect(listenAddresses(port)).toEqual(['127.0.0.1']); // not 0.0.0.0: demo tokens stay on this machine
    } finally {
      await proc.stop();
    }
  });

  it('says plainly that the port is taken, and how to pick another (exit 1, no stack trace)', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const proc = await spawnNode(MAIN, {
        env: { PORT: String(port), HOST: '127.0.0.1', KEYCLOAK_URL: '', NODE_ENV: 'development' },
        readyLine: /./,
        timeoutMs: 30000,
      });
      const exit = await proc.exited;
      expect(exit.code).toBe(1);
      expect(proc.stderr()).toContain(`port ${port} is in use`);
      expect(proc.stderr()).toContain('set PORT=');
      expect(proc.output()).not.toMatch(/^\s+at /m);
      expect(proc.output()).not.toContain('EADDRINUSE');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('a second build with nothing changed leaves dist/ alone (a running app keeps its files)', () => {
    // A copy of what the build reads, with the current build when there is one (then nothing is compiled here).
    const copy = join(dir, 'repo');
    for (const p of ['src', 'sandbox', 'bench', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) {
      cpSync(join(ROOT, p), join(copy, p), { recursive: true, filter: (src) => !src.includes('node_modules') });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    if (existsSync(join(ROOT, 'dist/.inputs-hash'))) cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
    const build = () => execFileSync('bash', ['scripts/build.sh'], { cwd: copy, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    build(); // compiles only when the sources differ from the current build
    const mainBefore = statSync(join(copy, 'dist/main.js'));
    writeFileSync(join(copy, 'dist/app/marker'), 'a file of the running build');
    const out = build();
    expect(out).toContain('dist/ is up to date');
    expect(readFileSync(join(copy, 'dist/app/marker'), 'utf8')).toBe('a file of the running build');
    expect(statSync(join(copy, 'dist/main.js')).ino).toBe(mainBefore.ino);
  }, 240_000);
});
