/**
 * Soak (issue 7, item 5): a mixed load — authentication, token exchange, Trino paging and WebSocket
 * turns — held for SOAK_MINUTES (10) at about 70 % of the capacity measured first, against the built
 * BFF as its own process. Reports the BFF's RSS at start and end, the error count, and p99 per minute
 * (overall and per kind). Targets: RSS growth < 10 %, zero errors.
 *
 * Processes: this one (the load, the sandbox issuer and emulators), the BFF (built from src/, logs at
 * warn, NODE_ENV=development with KEYCLOAK_URL pointing at the sandbox issuer, so not sandbox mode), and
 * a real redis-server for the StateStore and the exchange cache when one is installed. Run from the
 * repository root:
 *
 *   npx tsc -p tsconfig.build.json --outDir tmp/soak-bench && SOAK_MINUTES=10 node tmp/soak-bench/bench/soak.bench.js
 *
 * RSS is sampled at boot, after calibration, after SOAK_WARMUP_MINUTES (2) at the soak rate — the
 * start of the measured soak: by then V8 has grown its old space to the working size this load needs
 * (~240 MB committed for ~50 MB live on this VM) and the bounded caches (the one-minute verified-token
 * cache, the exchanged-token cache, the StateStore's outage copy) have reached their steady size — and
 * then every minute, with the V8 heap in use from the BFF's /metrics; growth is end ÷ start. Errors
 * count over warm-up and soak alike.
 *
 * Options (env): SOAK_MINUTES (10), SOAK_WARMUP_MINUTES (2), SOAK_LOAD (0.7 of capacity), SOAK_CALIBRATE_S (20), SOAK_USERS (50
 * distinct users), SOAK_WS_SESSIONS (20 long-lived agent sessions), SOAK_HTTP_CONCURRENCY (32 requests
 * in flight at most). In the BFF RATE_LIMIT_PER_MINUTE is 0 and AGENT_TOKEN_QUOTA 10^9: the soak measures the
 * server, not the limits (20 sessions turning for minutes spend the default 100,000-token daily quota).
 *
 * The mix, per scheduled operation: 40 % GET /auth/me, 25 % GET /trino/gateway/backend/all (cached
 * exchange; 1 in 20 with a fresh token: a cold exchange at the issuer), 20 % a Trino statement paged to
 * its end (POST /v1/statement, GET nextUri…), 15 % an agent WebSocket turn (user_message → deltas → done).
 * Capacity: the same mix closed-loop at full concurrency for SOAK_CALIBRATE_S; the soak then schedules
 * operations open-loop at SOAK_LOAD × that rate (bounded by the concurrency), so latency is measured
 * from when an operation was due, not when a worker got to it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { startSandbox, type Sandbox } from '../sandbox/index';
import type { LlmEmulator } from '../sandbox/llm-provider';
import { freePort } from './lib';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
/** Minutes at the soak rate before the measured soak: the start RSS is taken after them (V8 sizes its heap for the load). */
const WARMUP_MINUTES = Number(process.env.SOAK_WARMUP_MINUTES ?? 2);
const LOAD = Number(process.env.SOAK_LOAD ?? 0.7);
const CALIBRATE_S = Number(process.env.SOAK_CALIBRATE_S ?? 20);
const USERS = Number(process.env.SOAK_USERS ?? 50);
const WS_SESSIONS = Number(process.env.SOAK_WS_SESSIONS ?? 20);
const CONCURRENCY = Number(process.env.SOAK_HTTP_CONCURRENCY ?? 32);
const MAX_RSS_GROWTH = 0.1;
/** A turn, a request: longer than this is an error (and the soak does not wait for it). */
const OPERATION_TIMEOUT_MS = 30_000;

type Kind = 'auth' | 'exchange' | 'trino' | 'ws';
const MIX: Array<[Kind, number]> = [
  ['auth', 0.4],
  ['exchange', 0.25],
  ['trino', 0.2],
  ['ws', 0.15],
];

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

/** Minute numbers: warm-up minutes are w1…, measured minutes 1…. */
function label(minute: number): string {
  return minute <= 0 ? `w${minute + WARMUP_MINUTES}` : String(minute);
}

/** The BFF's V8 heap in use (its /metrics, no forced GC: garbage included), MB. */
async function heapUsedMb(base: string): Promise<number> {
  try {
    const m = /^bff_nodejs_heap_size_used_bytes ([\d.e+]+)$/m.exec(await (await fetch(`${base}/metrics`)).text());
    return m ? Math.round(Number(m[1]) / 104857.6) / 10 : NaN;
  } catch {
    return NaN;
  }
}

function p99(xs: number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] * 10) / 10;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

function request(base: string, method: string, pathname: string, token: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${pathname}`,
      { method, agent, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'text/plain' } : {}) }, timeout: OPERATION_TIMEOUT_MS },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** An agent session that runs one turn at a time. */
interface WsSession {
  busy: boolean;
  /** A turn timed out or the session closed: not used again. */
  broken: boolean;
  turn(): Promise<void>;
  close(): void;
}

async function openSession(base: string, token: string): Promise<WsSession> {
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      `${base}/api/agents`,
      { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ name: 'Soak' }));
  });
  if (res.status !== 201) throw new Error(`agent creation answered ${res.status}: ${res.text}`);
  const id = (JSON.parse(res.text) as { id: string }).id;
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/agents/${id}/react?access-token=${token}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let pending: { resolve: () => void; reject: (e: Error) => void } | undefined;
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; reason?: string };
    if (frame.type === 'done') pending?.resolve();
    else if (frame.type === 'error') pending?.reject(new Error(`error frame ${frame.reason}`));
  });
  ws.on('close', (code) => {
    session.broken = true;
    pending?.reject(new Error(`session closed ${code}`));
  });
  const session: WsSession = {
    busy: false,
    broken: false,
    turn: () =>
      new Promise<void>((resolve, reject) => {
        session.busy = true;
        const timer = setTimeout(() => {
          session.broken = true;
          finish(new Error(`no done/error frame within ${OPERATION_TIMEOUT_MS} ms`));
        }, OPERATION_TIMEOUT_MS);
        const finish = (e?: Error) => {
          clearTimeout(timer);
          if (!session.broken) session.busy = false;
          pending = undefined;
          if (e) reject(e);
          else resolve();
        };
        pending = { resolve: () => finish(), reject: (e) => finish(e) };
        ws.send(JSON.stringify({ type: 'user_message', content: 'How many nations are there?' }));
      }),
    close: () => ws.close(),
  };
  return session;
}

interface Sample {
  kind: Kind;
  ms: number;
  ok: boolean;
  at: number;
  detail?: string;
}

async function main(): Promise<void> {
  const sandbox: Sandbox = await startSandbox();
  (sandbox.servers.find((s) => s.name === 'llm-provider')!.server as LlmEmulator).setChunkDelayMs(5);

  let redis: ChildProcess | undefined;
  let redisDir: string | undefined;
  let valkeyUrl: string | undefined;
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    const port = await freePort();
    redisDir = mkdtempSync(path.join(tmpdir(), 'soak-redis-'));
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
    valkeyUrl = `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 300));
  } catch {
    valkeyUrl = undefined;
  }

  const port = await freePort();
  const bff = spawn(process.execPath, [path.join(__dirname, '../src/main.js')], {
    env: {
      ...process.env,
      ...sandbox.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      RATE_LIMIT_PER_MINUTE: '0',
      AGENT_TOKEN_QUOTA: '1000000000',
      ...(valkeyUrl ? { VALKEY_URL: valkeyUrl } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let bffOutput = '';
  bff.stdout?.on('data', (d: Buffer) => (bffOutput = (bffOutput + d.toString()).slice(-20_000)));
  bff.stderr?.on('data', (d: Buffer) => (bffOutput = (bffOutput + d.toString()).slice(-20_000)));
  const base = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 30_000; ;) {
    if (bff.exitCode !== null) throw new Error(`BFF exited:\n${bffOutput}`);
    if (
      (await fetch(`${base}/health/live`)
        .then((r) => r.ok)
        .catch(() => false)) === true
    )
      break;
    if (Date.now() > deadline) throw new Error(`BFF did not start:\n${bffOutput}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const tokens: string[] = [];
  for (let u = 0; u < USERS; u++) {
    tokens.push(
      await sandbox.issuer.issueToken({
        user: u % 5 === 0 ? 'admin' : 'alice',
        claims: { sub: `soak-user-${u}`, preferred_username: `soak${u}` },
        expiresInS: 3 * 3600,
      }),
    );
  }
  const sessions: WsSession[] = [];
  for (let s = 0; s < WS_SESSIONS; s++) sessions.push(await openSession(base, tokens[s % USERS]));

  let seq = 0;
  const pick = (): Kind => {
    const r = (seq++ * 0.6180339887) % 1; // low-discrepancy: the mix holds in every second
    let acc = 0;
    for (const [kind, share] of MIX) if (r < (acc += share)) return kind;
    return 'auth';
  };

  async function operation(kind: Kind): Promise<void> {
    const token = tokens[Math.floor(Math.random() * USERS)];
    switch (kind) {
      case 'auth': {
        const r = await request(base, 'GET', '/auth/me', token);
        if (r.status !== 200) throw new Error(`auth ${r.status}`);
        return;
      }
      case 'exchange': {
        const fresh = Math.random() < 0.05 ? await sandbox.issuer.issueToken({ user: 'admin', claims: { sub: `soak-fresh-${seq}` } }) : undefined;
        const r = await request(base, 'GET', '/trino/gateway/backend/all', fresh ?? tokens[Math.floor(Math.random() * (USERS / 5)) * 5]);
        if (r.status !== 200) throw new Error(`exchange ${r.status} ${r.text.slice(0, 120)}`);
        return;
      }
      case 'trino': {
        let r = await request(base, 'POST', '/v1/statement', token, 'SELECT * FROM tpch.tiny.nation');
        for (let pages = 0; ; pages++) {
          if (r.status !== 200) throw new Error(`trino ${r.status} ${r.text.slice(0, 120)}`);
          const page = JSON.parse(r.text) as { nextUri?: string; error?: unknown };
          if (page.error) throw new Error('trino query failed');
          if (!page.nextUri || pages > 50) return;
          r = await request(base, 'GET', new URL(page.nextUri).pathname, token);
        }
      }
      case 'ws': {
        const free = sessions.find((s) => !s.busy && !s.broken);
        if (!free) throw new Error('no free WebSocket session (all turns busy)');
        await free.turn();
        return;
      }
    }
  }

  const samples: Sample[] = [];
  let inFlight = 0;
  async function timed(kind: Kind, dueAt: number): Promise<void> {
    inFlight++;
    try {
      await operation(kind);
      samples.push({ kind, ms: performance.now() - dueAt, ok: true, at: Date.now() });
    } catch (e) {
      samples.push({ kind, ms: performance.now() - dueAt, ok: false, at: Date.now(), detail: (e as Error).message });
      process.stdout.write(`error (${kind}, ${new Date().toISOString()}): ${(e as Error).message}\n`);
    } finally {
      inFlight--;
    }
  }

  const rssBoot = rssMb(bff.pid!);
  // 1. Capacity: the mix, closed-loop, at full concurrency.
  process.stdout.write(`calibrating for ${CALIBRATE_S} s (${CONCURRENCY} HTTP workers, ${WS_SESSIONS} WebSocket sessions)…\n`);
  const calibrationEnd = Date.now() + CALIBRATE_S * 1000;
  let calibrated = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < calibrationEnd) {
        let kind = pick();
        if (kind === 'ws' && !sessions.some((s) => !s.busy && !s.broken)) kind = 'auth';
        await timed(kind, performance.now());
        calibrated++;
      }
    }),
  );
  const calibrationErrors = samples.filter((s) => !s.ok).length;
  const capacity = calibrated / CALIBRATE_S;
  const rate = capacity * LOAD;
  samples.length = 0;
  const rssCalibrated = rssMb(bff.pid!);
  process.stdout.write(
    `capacity ≈ ${capacity.toFixed(0)} ops/s (calibration errors: ${calibrationErrors}); soaking at ${rate.toFixed(0)} ops/s for ${WARMUP_MINUTES} min warm-up + ${MINUTES} min\n`,
  );

  // 2. Soak: open-loop at LOAD × capacity; the first WARMUP_MINUTES are the warm-up (rows "w1"…).
  await new Promise((r) => setTimeout(r, 2000));
  let rssStart = rssMb(bff.pid!);
  const started = Date.now();
  const end = started + (WARMUP_MINUTES + MINUTES) * 60_000;
  const perMinute: Array<{ minute: number; ops: number; errors: number; p99: number; p99ByKind: Record<Kind, number>; rssMb: number; heapMb: number }> = [];
  let minuteStart = 0;
  let skipped = 0;
  const intervalMs = 1000 / rate;
  let next = performance.now();
  const running: Promise<void>[] = [];
  while (Date.now() < end) {
    const nowP = performance.now();
    while (next <= nowP) {
      const dueAt = next;
      next += intervalMs;
      let kind = pick();
      if (kind === 'ws' && !sessions.some((s) => !s.busy && !s.broken)) kind = 'auth';
      if (inFlight >= CONCURRENCY + WS_SESSIONS) {
        skipped++;
        continue;
      }
      const p = timed(kind, dueAt);
      running.push(p);
      void p.then(() => running.splice(running.indexOf(p), 1));
    }
    const minute = Math.floor((Date.now() - started) / 60_000);
    if (minute > perMinute.length) {
      const slice = samples.slice(minuteStart);
      minuteStart = samples.length;
      const byKind = Object.fromEntries(MIX.map(([k]) => [k, p99(slice.filter((s) => s.kind === k).map((s) => s.ms))])) as Record<Kind, number>;
      const row = {
        minute: perMinute.length + 1 - WARMUP_MINUTES,
        ops: slice.length,
        errors: slice.filter((s) => !s.ok).length,
        p99: p99(slice.map((s) => s.ms)),
        p99ByKind: byKind,
        rssMb: rssMb(bff.pid!),
        heapMb: await heapUsedMb(base),
      };
      perMinute.push(row);
      if (perMinute.length === WARMUP_MINUTES) rssStart = row.rssMb;
      process.stdout.write(
        `minute ${label(row.minute)}: ${row.ops} ops, ${row.errors} errors, p99 ${row.p99} ms ${JSON.stringify(byKind)}, BFF RSS ${row.rssMb} MB, heap used ${row.heapMb} MB\n`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, next - performance.now()))));
  }
  // Operations still running are bounded by OPERATION_TIMEOUT_MS (they count as errors when they time out).
  await Promise.all([...running]);
  const tail = samples.slice(minuteStart);
  if (tail.length > 0 && perMinute.length < WARMUP_MINUTES + MINUTES) {
    const byKind = Object.fromEntries(MIX.map(([k]) => [k, p99(tail.filter((s) => s.kind === k).map((s) => s.ms))])) as Record<Kind, number>;
    perMinute.push({
      minute: perMinute.length + 1 - WARMUP_MINUTES,
      ops: tail.length,
      errors: tail.filter((s) => !s.ok).length,
      p99: p99(tail.map((s) => s.ms)),
      p99ByKind: byKind,
      rssMb: rssMb(bff.pid!),
      heapMb: await heapUsedMb(base),
    });
  }
  const rssEnd = rssMb(bff.pid!);
  const errors = samples.filter((s) => !s.ok);
  const growth = (rssEnd - rssStart) / rssStart;

  const lines = [
    `soak: ${MINUTES} min (after ${WARMUP_MINUTES} min warm-up) at ${(LOAD * 100).toFixed(0)} % of ${capacity.toFixed(0)} ops/s (${rate.toFixed(0)} ops/s), Valkey: ${valkeyUrl ? 'redis-server' : 'memory'}`,
    `operations: ${samples.length}, errors: ${errors.length}, not scheduled (concurrency bound): ${skipped}`,
    `BFF RSS: boot ${rssBoot} MB, after calibration ${rssCalibrated} MB, start (after warm-up) ${rssStart} MB, end ${rssEnd} MB, growth ${(growth * 100).toFixed(1)} % (target < ${MAX_RSS_GROWTH * 100} %)`,
    '',
    '| minute | ops | errors | p99 ms | p99 auth | p99 exchange | p99 trino (paged) | p99 ws turn | BFF RSS MB | BFF heap used MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...perMinute.map(
      (m) =>
        `| ${label(m.minute)} | ${m.ops} | ${m.errors} | ${m.p99} | ${m.p99ByKind.auth} | ${m.p99ByKind.exchange} | ${m.p99ByKind.trino} | ${m.p99ByKind.ws} | ${m.rssMb} | ${m.heapMb} |`,
    ),
  ];
  if (errors.length > 0) {
    const kinds = new Map<string, number>();
    for (const e of errors) kinds.set(`${e.kind}: ${e.detail}`, (kinds.get(`${e.kind}: ${e.detail}`) ?? 0) + 1);
    lines.push('', 'errors:', ...[...kinds].map(([k, n]) => `  ${n} × ${k}`));
  }
  process.stdout.write(lines.join('\n') + '\n');
  const resultsDir = path.join(__dirname, '../../../bench/results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    path.join(resultsDir, 'soak.json'),
    JSON.stringify(
      {
        minutes: MINUTES,
        warmupMinutes: WARMUP_MINUTES,
        load: LOAD,
        capacity,
        rate,
        rssBoot,
        rssCalibrated,
        rssStart,
        rssEnd,
        growth,
        errors: errors.length,
        skipped,
        perMinute,
      },
      null,
      2,
    ),
  );

  const broken = sessions.filter((s) => s.broken).length;
  for (const s of sessions) s.close();
  agent.destroy();
  await new Promise<void>((resolve) => {
    bff.once('exit', () => resolve());
    bff.kill('SIGTERM');
  });
  redis?.kill('SIGTERM');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  await sandbox.close();
  if (broken > 0) process.stdout.write(`WebSocket sessions broken during the soak: ${broken} of ${WS_SESSIONS}\n`);
  const pass = errors.length === 0 && growth < MAX_RSS_GROWTH;
  process.stdout.write(pass ? 'PASS\n' : 'FAIL (targets: zero errors, RSS growth < 10 %)\n');
  process.exitCode = pass ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
