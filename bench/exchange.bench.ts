/**
 * Token exchange benchmark (issue 3, item 8), in one run:
 *
 * 1. Cold burst: 500 connections opened at once against GET /trino/gateway/backend/all, 2,000
 *    requests cycling one token for each of 100 users, none exchanged before. Target: exactly one
 *    identity-provider exchange per (user, audience) — counted by the issuer itself — and no error.
 * 2. Cache hit vs exchange off: the same route on two BFF processes of identical configuration,
 *    one exchanging (every request a cache hit after the burst), one with the exchange switched off
 *    (TokenExchangeService.exchangeFor replaced in that process by a constant: the request still
 *    goes through authentication, the interceptor and the gateway call, without the exchange step).
 *    Paired rounds, the order flipped each round (A B, B A, …), so drift cancels; the ratio is the median
 *    of the rounds' ratios. Target: hit / off ≥ 0.85. Afterwards, still exactly one exchange per
 *    (user, audience): every request of the run was served within one TTL. Each BFF's CPU time per
 *    request is read from /proc (Linux) as well: unlike throughput on a shared machine, it does not
 *    move with whatever else runs there, so it shows what the exchange step itself costs.
 *
 * Processes, so that no two sides share an event loop: this one (autocannon, the OIDC issuer), the
 * Trino Gateway emulator (a child; no authentication, so both sides cost the gateway the same), the
 * two BFFs (children, NODE_ENV=production, LOG_LEVEL=warn), and redis-server when installed
 * (VALKEY_URL set: the production shape; BENCH_VALKEY=0 for the in-memory cache only).
 *
 *   npm run build && node dist/app/bench/exchange.bench.js
 *
 * Options (env): BENCH_ROUNDS (8), BENCH_DURATION_S (3), BENCH_CONNECTIONS (50), BENCH_USERS (100),
 * BENCH_BURST_CONNECTIONS (500), BENCH_VALKEY (1).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import autocannon from 'autocannon';
import { startOidcIssuer, type SandboxUser } from '../sandbox/oidc-issuer';
import { SANDBOX_CLIENT_ID, SANDBOX_REALM, sandboxClients } from '../sandbox/index';
import { startTrinoGateway } from '../sandbox/trino-gateway';
import { createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/load-config';
import { TokenExchangeService } from '../src/token-exchange/token-exchange.service';
import { freePort, table, type RunResult } from './lib';

const ROUTE = '/trino/gateway/backend/all';
const WORKSPACE = 'demo';
const AUDIENCE = `${WORKSPACE}-trino-gw`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const USERS = Number(process.env.BENCH_USERS ?? 100);
const BURST_CONNECTIONS = Number(process.env.BENCH_BURST_CONNECTIONS ?? 500);
const MIN_RATIO = 0.85;
/** USER_HZ of /proc/<pid>/stat. */
const CLOCK_TICKS_PER_S = 100;

interface Child {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts this file in another role (`serve on|off`, `gateway`) and waits for its "listening <url>" line. */
async function startChild(args: string[], env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, [__filename, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /^listening (\S+)$/m.exec(output);
      if (m) resolve(m[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}):\n${output}`)));
    setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${output}`)), 30_000).unref();
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Child role: one BFF, exchanging (`on`) or with the exchange step replaced by a constant (`off`). */
async function serve(mode: string): Promise<void> {
  const config = loadConfig(process.env);
  const app: NestFastifyApplication = await createApp(config);
  if (mode === 'off') {
    const exchange = app.get(TokenExchangeService);
    const constant = `exchange-off-${randomUUID()}`;
    exchange.exchangeFor = async () => constant;
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
}

/** Child role: the Trino Gateway emulator without authentication (NoopFilter). */
async function gateway(): Promise<void> {
  const gw = await startTrinoGateway({});
  process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
  process.stdout.write(`listening ${gw.url}\n`);
}

async function startRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (process.env.BENCH_VALKEY === '0') return undefined;
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  const net = await import('node:net');
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** `amount` requests over `connections` connections opened at once; every request is awaited (30 s timeout). */
async function burstRun(
  name: string,
  url: string,
  connections: number,
  amount: number,
  headersFor: (i: number) => Record<string, string>,
): Promise<RunResult & { total: number; seconds: number }> {
  let i = 0;
  const result = await autocannon({
    url,
    connections,
    amount,
    timeout: 30,
    requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, headers: { ...req.headers, ...headersFor(i++) } }) }] as autocannon.Request[],
  });
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    total: result.requests.total,
    seconds: result.duration,
  };
}

interface Measured extends RunResult {
  total: number;
  /** CPU time (user + system) the BFF process used during the run. */
  cpuMs: number;
}

/** CPU time used so far by a process (Linux /proc), ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

/** One timed run against one BFF, with the CPU time that BFF spent on it. */
async function measured(name: string, side: Child, headersFor: (i: number) => Record<string, string>): Promise<Measured> {
  let i = 0;
  const before = cpuMs(side.child.pid!);
  const result = await autocannon({
    url: `${side.url}${ROUTE}`,
    connections: CONNECTIONS,
    duration: DURATION_S,
    requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, headers: { ...req.headers, ...headersFor(i++) } }) }] as autocannon.Request[],
  });
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    total: result.requests.total,
    cpuMs: cpuMs(side.child.pid!) - before,
  };
}

function average(runs: RunResult[]): RunResult {
  const mean = (f: (r: RunResult) => number) => Math.round((runs.reduce((a, r) => a + f(r), 0) / runs.length) * 100) / 100;
  return {
    name: runs[0].name,
    rps: Math.round(mean((r) => r.rps)),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function benchUsers(n: number): SandboxUser[] {
  return Array.from({ length: n }, (_, i) => ({
    sub: randomUUID(),
    username: `user${i}`,
    password: randomBytes(12).toString('hex'),
    email: `user${i}@example.com`,
    name: `Bench User ${i}`,
    roles: ['REGULAR'],
    groups: [],
  }));
}

async function orchestrate(): Promise<void> {
  const secret = randomBytes(24).toString('base64url');
  const users = benchUsers(USERS);
  const issuer = await startOidcIssuer({ realm: SANDBOX_REALM, users, clients: sandboxClients(WORKSPACE, secret) });
  const redis = await startRedis();
  const gw = await startChild(['gateway'], {});
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    KEYCLOAK_URL: issuer.url,
    KEYCLOAK_REALM: SANDBOX_REALM,
    BFF_CLIENT_ID: SANDBOX_CLIENT_ID,
    BFF_CLIENT_SECRET: secret,
    WORKSPACE_ID: WORKSPACE,
    TRINO_GATEWAY_URL: gw.url,
    // Production with VALKEY_URL requires the (MLflow login) session secret; unused by this route.
    BFF_SESSION_SECRET: randomBytes(32).toString('base64url'),
    ...(redis ? { VALKEY_URL: redis.url } : {}),
  };
  const children: Child[] = [gw];
  try {
    const on = await startChild(['serve', 'on'], env);
    children.push(on);
    const off = await startChild(['serve', 'off'], env);
    children.push(off);
    const tokens = await Promise.all(users.map((u) => issuer.issueToken({ user: u.username, expiresInS: 3600 })));
    const auth = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    const exchangesPerUser = () => users.map((u) => issuer.stats.exchanges.get(`${u.sub}|${AUDIENCE}`) ?? 0);

    // The realm's signing key fetched once by each BFF (GET /auth/me verifies a token, exchanges nothing):
    // the burst measures a cold exchange cache, not a cold JWKS cache.
    const warmup = await issuer.issueToken({ user: users[0].username, expiresInS: 3600, claims: { jti: 'warm-up' } });
    for (const side of [on, off]) {
      const res = await fetch(`${side.url}/auth/me`, { headers: { authorization: `Bearer ${warmup}` } });
      if (res.status !== 200) throw new Error(`warm-up: GET /auth/me answered ${res.status}`);
    }

    // 1. Cold burst: a fixed number of requests (not a duration), so every one of them completes and counts.
    // First against the "off" side (its first sight of the tokens too, without the exchange: the baseline,
    // which also leaves both sides with a warm verified-token cache), then against the exchanging side.
    const baseline = await burstRun('exchange off', `${off.url}${ROUTE}`, BURST_CONNECTIONS, BURST_CONNECTIONS * 4, auth);
    const burst = await burstRun('exchange on', `${on.url}${ROUTE}`, BURST_CONNECTIONS, BURST_CONNECTIONS * 4, auth);
    const afterBurst = exchangesPerUser();
    const burstExact = afterBurst.every((n) => n === 1);

    // 2. Cache hit vs exchange off: paired rounds, the order flipped every round (off on, on off, …), so
    // that drift and whatever else the machine runs land on both sides; the ratio is the median of the
    // rounds' ratios, the table the averages.
    const offRuns: Measured[] = [];
    const onRuns: Measured[] = [];
    const roundRatios: number[] = [];
    const runOff = () => measured('exchange off', off, auth);
    const runOn = () => measured('exchange on (cache hit)', on, auth);
    for (let r = 0; r < ROUNDS; r++) {
      let offRun: Measured;
      let onRun: Measured;
      if (r % 2 === 0) {
        offRun = await runOff();
        onRun = await runOn();
      } else {
        onRun = await runOn();
        offRun = await runOff();
      }
      offRuns.push(offRun);
      onRuns.push(onRun);
      roundRatios.push(onRun.rps / offRun.rps);
    }
    const rows = [average(offRuns), average(onRuns)];
    const afterRuns = exchangesPerUser();
    const perTtlExact = afterRuns.every((n) => n === 1);
    const ratio = median(roundRatios);
    // CPU time the BFF process spent per request: what the exchange step costs it, whatever else the machine runs.
    const cpuPerRequest = (runs: Measured[]) => runs.reduce((a, r) => a + r.cpuMs, 0) / runs.reduce((a, r) => a + r.total, 0);
    const cpuOff = cpuPerRequest(offRuns);
    const cpuOn = cpuPerRequest(onRuns);

    const out = [
      `cache: ${redis ? 'Valkey (redis-server) + in-process tier' : 'in-process memory only'}; ${USERS} users, one token each; node ${process.version}`,
      '',
      ...[baseline, burst].map(
        (r) =>
          `cold burst, ${r.name}: ${r.total} requests over ${BURST_CONNECTIONS} connections in ${r.seconds.toFixed(1)} s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx}`,
      ),
      `IdP exchanges per (user, ${AUDIENCE}) after the burst: min ${Math.min(...afterBurst)}, max ${Math.max(...afterBurst)}, total ${afterBurst.reduce((a, b) => a + b, 0)} for ${USERS} users — target exactly 1: ${burstExact ? 'met' : 'NOT met'}`,
      '',
      table(rows, 'exchange off'),
      '',
      `BFF CPU per request: exchange off ${(cpuOff * 1000).toFixed(0)} µs, exchange on (cache hit) ${(cpuOn * 1000).toFixed(0)} µs — CPU-bound throughput ratio ${(cpuOff / cpuOn).toFixed(2)}`,
      `per-round throughput ratios: ${roundRatios.map((x) => x.toFixed(2)).join(' ')}`,
      `cache hit / exchange off = ${ratio.toFixed(2)} (median of ${ROUNDS} rounds; target >= ${MIN_RATIO}): ${ratio >= MIN_RATIO ? 'met' : 'NOT met'}`,
      `IdP exchanges per (user, ${AUDIENCE}) after every run (all within one TTL): max ${Math.max(...afterRuns)} — target exactly 1: ${perTtlExact ? 'met' : 'NOT met'}`,
    ].join('\n');
    process.stdout.write(`\n${out}\n`);
    mkdirSync(join(process.cwd(), 'bench/results'), { recursive: true });
    writeFileSync(
      join(process.cwd(), 'bench/results/exchange.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          valkey: !!redis,
          users: USERS,
          burstBaseline: baseline,
          burst,
          exchangesAfterBurst: afterBurst,
          rows,
          roundRatios,
          ratio,
          cpuMsPerRequest: { off: cpuOff, on: cpuOn },
          perTtlExact,
        },
        null,
        2,
      ),
    );
    if (!burstExact || !perTtlExact || ratio < MIN_RATIO || burst.errors > 0 || burst.non2xx > 0) process.exitCode = 1;
  } finally {
    for (const c of children.reverse()) await c.stop();
    await redis?.stop();
    await issuer.close();
  }
}

const role = process.argv[2];
const main = role === 'serve' ? () => serve(process.argv[3]) : role === 'gateway' ? gateway : orchestrate;
main().then(
  () => {
    if (!role) process.exit(process.exitCode ?? 0);
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
