import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { MAIN, startSandboxBff, type SandboxBff } from '../e2e/bff-process';
import { freePort } from '../support/net';
import { spawnNode } from '../support/processes';
import { call } from './reliability-support';

jest.setTimeout(85_000);

const ROOT = join(__dirname, '../..');
/** A private build (under the git-ignored /tmp of the repo) when dist/ is not there: `npm run build` would wipe a shared dist/. */
const PRIVATE_MAIN = join(ROOT, 'tmp/reliability-build/main.js');

/** The built BFF in sandbox mode: dist/main.js via startSandboxBff, or the same from a private build. */
async function startBuiltBff(): Promise<SandboxBff> {
  if (existsSync(MAIN)) return startSandboxBff();
  const out = join(ROOT, 'tmp/reliability-build');
  mkdirSync(out, { recursive: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(out, 'app')], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  writeFileSync(PRIVATE_MAIN, "'use strict';\nrequire('./app/src/main');\n");
  const port = await freePort();
  const proc = await spawnNode(PRIVATE_MAIN, {
    env: { PORT: String(port), HOST: '127.0.0.1', KEYCLOAK_URL: '', NODE_ENV: 'development', LOG_LEVEL: 'info' },
    readyLine: /Try: +curl/,
    timeoutMs: 30000,
  });
  const token = (user: string) => new RegExp(`${user} \\([^)]*\\):\\s*\\n\\s*(\\S+)`).exec(proc.stdout())![1];
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    tokens: { alice: token('alice'), admin: token('admin'), viewer: token('viewer') },
    stop: async () => void (await proc.stop()),
  };
}

/**
 * A JSON POST sent with `Expect: 100-continue`: `accepted` resolves when the BFF's HTTP server has taken the request
 * (it answers 100 Continue to the headers), and the body is sent then; `answer` is the final answer.
 */
function postOnceAccepted(url: string, token: string, json: unknown): { accepted: Promise<void>; answer: Promise<{ status: number; body: string }> } {
  let accept!: () => void;
  const accepted = new Promise<void>((resolve) => (accept = resolve));
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const body = JSON.stringify(json);
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        expect: '100-continue',
        connection: 'close',
      },
    });
    req.once('continue', () => {
      req.end(body);
      accept();
    });
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.once('error', reject);
    req.flushHeaders();
  });
  return { accepted, answer };
}

/**
 * SIGTERM on the built app (`node dist/main.js`, sandbox mode): requests in flight are answered,
 * WebSocket sessions are closed with 1001 (going away), the process then ends by itself (Nest re-raises SIGTERM).
 */
describe('graceful shutdown (SIGTERM on the built app)', () => {
  let bff: SandboxBff;

  beforeAll(async () => {
    bff = await startBuiltBff();
  });
  afterAll(async () => {
    await bff?.stop();
  });

  it('finishes the in-flight request, closes WebSocket sessions with 1001, then exits', async () => {
    const alice = bff.tokens.alice;
    const agent = await call(bff.url, 'POST', '/api/agents', { token: alice, json: { name: 'Shutdown' } });
    expect(agent.status).toBe(201);
    const ws = new WebSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${agent.json!.id as string}/react?access-token=${alice}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });

    // In flight: a query that runs 1.5 s at the coordinator, SIGTERM once the BFF has taken the request (not after a sleep).
    const { accepted, answer: inFlight } = postOnceAccepted(`${bff.url}/trino/query`, alice, { sql: 'SELECT * FROM sandbox.gen.sleep_1500' });
    await accepted;
    bff.proc.child.kill('SIGTERM');

    const order: string[] = [];
    const [answer, close, exit] = await Promise.all([
      inFlight.then((a) => (order.push('answer'), a)),
      closed.then((c) => (order.push('ws closed'), c)),
      bff.proc.exited.then((e) => (order.push('exit'), e)),
    ]);
    expect([answer.status, answer.body.slice(0, 200)]).toEqual([200, expect.stringContaining('"columns"')]);
    expect(close.code).toBe(1001);
    // Nest's shutdown hook closes the app, then re-raises the signal: the process ends by SIGTERM, after draining.
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    // It exits by itself (a process that never ended would fail this test by its timeout, not by a wall-clock bound).
    expect(order[2]).toBe('exit');
    // After the exit nothing listens any more.
    await expect(call(bff.url, 'GET', '/health/live', { timeoutMs: 1000 })).rejects.toThrow();
  });
});
