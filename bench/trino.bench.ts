/**
 * Trino through the BFF against Trino directly (issue 4, item 10): 1,000,000 rows read with the real
 * `trino-client`, from the coordinator emulator directly and through the BFF, alternated over rounds
 * (direct, BFF, direct, BFF...), and the BFF's peak RSS after 100,000 rows, after the first 1,000,000-row
 * run (the issue's criterion) and after all rounds (reported: with many small pages it shows V8's
 * external-memory headroom, garbage socket buffers awaiting a GC, not retained data).
 *
 * Three processes, so that no two share an event loop: this one (the client), the coordinator emulator
 * (a child of this file), and the built BFF (dist/main.js, TRINO_AUTH=none, NODE_ENV=production).
 *
 *   npm run build && node dist/app/bench/trino.bench.js
 *
 * Options (env): BENCH_PAGE_ROWS (rows per page at the coordinator; default 50000, about 1 MB of this
 * table's JSON, as Trino sizes pages: targetResultSize defaults to 1 MB in ExecutingStatementResource;
 * 1000 is the emulator's own default and the worst case for any proxy: a round trip per 20 KB),
 * BENCH_ROWS (1000000), BENCH_ROUNDS (3).
 * Targets: time ratio at most 1.25; peak RSS growth from 100,000 to 1,000,000 rows under 30 MB.
 * Linux only (peak RSS is the kernel's VmHWM of the BFF process).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Trino } from 'trino-client';
import { startBffProcess } from './lib';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SMALL_ROWS = ROWS / 10;
const PAGE_ROWS = Number(process.env.BENCH_PAGE_ROWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MAX_RATIO = 1.25;
const MAX_RSS_GROWTH_MB = 30;
const CLOCK_TICKS_PER_S = 100;

/** The kernel's peak resident set (VmHWM) of a process, bytes: exact, nothing to sample. */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`VmHWM not found for pid ${pid} (this bench needs Linux)`);
  return Number(m[1]) * 1024;
}

/** CPU time (user + system) a process has used, ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Child process: the coordinator emulator, so that it does not share the client's event loop. */
async function coordinatorMain(): Promise<void> {
  const { startTrinoCoordinator } = await import('../sandbox/trino-coordinator');
  const coordinator = await startTrinoCoordinator({ pageRows: PAGE_ROWS });
  process.send?.({ url: coordinator.url });
  process.on('disconnect', () => void coordinator.close().then(() => process.exit(0)));
}

function startCoordinator(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['coordinator'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the coordinator emulator exited (${code})`)));
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
  });
}

/** Reads a whole result with trino-client, counting rows (the client keeps none). */
async function readAll(server: string, headers: Record<string, string>, rows: number): Promise<number> {
  const trino = Trino.create({ server, extraHeaders: headers });
  const started = performance.now();
  let count = 0;
  for await (const page of await trino.query(`SELECT * FROM sandbox.gen.rows_${rows}`)) {
    if (page.error) throw new Error(`query failed: ${page.error.message}`);
    count += page.data?.length ?? 0;
  }
  const ms = performance.now() - started;
  if (count !== rows) throw new Error(`read ${count} rows, expected ${rows}`);
  return ms;
}

async function main(): Promise<void> {
  const { startSandbox } = await import('../sandbox/index');
  const sandbox = await startSandbox();
  const coordinator = await startCoordinator();
  const bff = await startBffProcess({ ...sandbox.env, TRINO_URL: coordinator.url });
  const pid = bff.child.pid as number;
  const token = await sandbox.issuer.issueToken({ user: 'alice', expiresInS: 3600 });
  const viaBff = { Authorization: `Bearer ${token}` };
  const direct = { 'X-Trino-User': 'alice' };
  try {
    // Warm-up (JIT, connection pools, the verified-token cache).
    await readAll(coordinator.url, direct, 20_000);
    await readAll(bff.url, viaBff, 20_000);

    await readAll(bff.url, viaBff, SMALL_ROWS);
    const rssAfterSmall = peakRss(pid);

    const directMs: number[] = [];
    const bffMs: number[] = [];
    const cpuBefore = cpuMs(pid);
    let rssAfterFirstLarge = 0;
    for (let r = 0; r < ROUNDS; r++) {
      directMs.push(await readAll(coordinator.url, direct, ROWS));
      bffMs.push(await readAll(bff.url, viaBff, ROWS));
      if (r === 0) rssAfterFirstLarge = peakRss(pid);
    }
    const bffCpuPerRun = (cpuMs(pid) - cpuBefore) / ROUNDS;
    const rssAfterLarge = peakRss(pid);

    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ratio = avg(bffMs) / avg(directMs);
    const growthTo1M = mb(rssAfterFirstLarge - rssAfterSmall);
    const pages = Math.ceil(ROWS / PAGE_ROWS);
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      rows: ROWS,
      pageRows: PAGE_ROWS,
      pages,
      rounds: ROUNDS,
      directMs: directMs.map(Math.round),
      bffMs: bffMs.map(Math.round),
      ratio: round3(ratio),
      bestRatio: round3(Math.min(...bffMs) / Math.min(...directMs)),
      bffCpuMsPerRun: Math.round(bffCpuPerRun),
      bffCpuMsPerPage: round3(bffCpuPerRun / pages),
      bffPeakRssMb: {
        [`after${SMALL_ROWS}Rows`]: mb(rssAfterSmall),
        [`after${ROWS}Rows`]: mb(rssAfterFirstLarge),
        afterAllRounds: mb(rssAfterLarge),
        growthTo1M,
        growthAllRounds: mb(rssAfterLarge - rssAfterSmall),
      },
      pass: ratio <= MAX_RATIO && growthTo1M < MAX_RSS_GROWTH_MB,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const dir = path.join(process.cwd(), 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `trino-${PAGE_ROWS}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.exitCode = result.pass ? 0 : 1;
  } finally {
    await bff.stop();
    coordinator.child.disconnect();
    await sandbox.close();
  }
}

(process.argv[2] === 'coordinator' ? coordinatorMain : main)().catch((err: unknown) => {
  process.stderr.write(`trino bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
