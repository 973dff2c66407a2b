/**
 * Trino through the BFF against Trino directly (issue 4, item 10; issue 19, item 7): 1,000,000 rows read with
 * the real `trino-client`, from the coordinator emulator directly, through the BFF and through a bare Node
 * relay, alternated over rounds (each round starts with a different side, so drift cancels), and each
 * proxy's peak RSS after 100,000 rows, after the first 1,000,000-row run (the issue's criterion) and after all
 * rounds (reported: with many small pages it shows V8's external-memory headroom, garbage socket buffers
 * awaiting a GC, not retained data).
 *
 * Separate processes, so that no two share an event loop: this one (the client), the coordinator emulator,
 * the built BFF (dist/main.js, TRINO_AUTH=none, NODE_ENV=production), and the bare relay: node:http in,
 * a keep-alive agent out, the BFF's own URI rewriter in between, and nothing else (no authentication, no
 * ownership check, no framework). The relay is Node's floor on this host: what any Node proxy pays per
 * page in socket reads and writes. CPU per page is user + system time of a process (/proc/<pid>/stat)
 * over the timed rounds divided by the HTTP requests it relayed (the POST and every nextUri); the load
 * of other processes moves it much less than wall time.
 *
 *   npm run build && node dist/app/bench/trino.bench.js
 *
 * Options (env): BENCH_PAGE_ROWS (rows per page at the coordinator; default 50000, about 1 MB of this
 * table's JSON, as Trino sizes pages: targetResultSize defaults to 1 MB in ExecutingStatementResource;
 * 1000 is the emulator's own default and the worst case for any proxy: a round trip per 20 KB),
 * BENCH_ROWS (1000000), BENCH_ROUNDS (3), BENCH_RELAY (1; 0 leaves the relay out), BENCH_BASELINE (the
 * main.js of another build, e.g. a copy of dist/ before a change: a fourth side, so before and after
 * are measured in one run; several, comma-separated, each `label=path` or a path (side `baseline`,
 * `baseline2`...), to bisect a change over commits in the same rounds), BENCH_BFF_NODE_OPTIONS (NODE_OPTIONS of the BFF processes only, e.g.
 * `--cpu-prof --cpu-prof-dir=tmp/prof`), BENCH_TRINO_URL (a real Trino's plain-HTTP URL instead of the
 * emulator: bench/real-trino.sh starts one; the query is then TPC-H's sf1.orders, in pages Trino sizes).
 * Targets (issue 19): time ratio to direct at most 1.15 with pages under 50,000 rows and 1.05 with
 * Trino-sized pages; at most 0.3 ms of BFF CPU per page; peak RSS growth from 100,000 to 1,000,000
 * rows under 30 MB. Linux only (CPU and peak RSS come from /proc).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Trino } from 'trino-client';
import { startBffProcess, type BffProcess } from './lib';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SMALL_ROWS = ROWS / 10;
const PAGE_ROWS = Number(process.env.BENCH_PAGE_ROWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WITH_RELAY = process.env.BENCH_RELAY !== '0';
/** Other builds to run beside this one: [side name, main.js]. */
const BASELINES = (process.env.BENCH_BASELINE ?? '')
  .split(',')
  .filter(Boolean)
  .map((entry, i): [string, string] => {
    const eq = entry.indexOf('=');
    return eq > 0 ? [entry.slice(0, eq), entry.slice(eq + 1)] : [i === 0 ? 'baseline' : `baseline${i + 1}`, entry];
  });
/** A running Trino's plain-HTTP URL (it trusts X-Trino-User: bench/real-trino.sh starts one) instead of the emulator. */
const REAL_TRINO = process.env.BENCH_TRINO_URL;
const MAX_RATIO = REAL_TRINO || PAGE_ROWS >= 50_000 ? 1.05 : 1.15;
const MAX_CPU_MS_PER_PAGE = 0.3;
const MAX_RSS_GROWTH_MB = 30;
const CLOCK_TICKS_PER_S = 100;

/** The kernel's peak resident set (VmHWM) of a process, bytes: exact, nothing to sample. */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`VmHWM not found for pid ${pid} (this bench needs Linux)`);
  return Number(m[1]) * 1024;
}

/** CPU time a process has used, ms: user and system. */
function cpuMs(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS_PER_S, system: (Number(fields[12]) * 1000) / CLOCK_TICKS_PER_S };
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Child process: the coordinator emulator, so that it does not share the client's event loop. */
async function coordinatorMain(): Promise<void> {
  const { startTrinoCoordinator } = await import('../sandbox/trino-coordinator');
  const coordinator = await startTrinoCoordinator({ pageRows: PAGE_ROWS });
  process.send?.({ url: coordinator.url });
  process.on('disconnect', () => void coordinator.close().then(() => process.exit(0)));
}

/** Child process: the bare relay to TRINO_URL (see the top of this file). */
async function relayMain(): Promise<void> {
  const { JsonUriRewriter, QUERY_RESULTS_URI_FIELDS, rebaseUri } = await import('../src/trino-query/uri-rewriter');
  const upstream = new URL(process.env.TRINO_URL as string);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (name.startsWith('x-trino-') || name.startsWith('content-')) headers[name] = value;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (name.startsWith('x-trino-') || name === 'content-type') out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      const base = `http://${req.headers.host}`;
      const json = answer.statusCode === 200 && /^application\/json/.test(answer.headers['content-type'] ?? '');
      if (json) pipeline(answer, new JsonUriRewriter(QUERY_RESULTS_URI_FIELDS, (uri) => rebaseUri(uri, base)), res, () => undefined);
      else pipeline(answer, res, () => undefined);
    });
    up.on('error', () => res.destroy());
    pipeline(req, up, () => undefined);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  process.on('disconnect', () => process.exit(0));
}

function startChild(role: 'coordinator' | 'relay', env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [role], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${role} exited (${code})`)));
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
  });
}

/** The query of `rows` rows: the emulator's generated table, or a TPC-H table of the real Trino. */
const sql = (rows: number) => (REAL_TRINO ? `SELECT * FROM tpch.sf1.orders LIMIT ${rows}` : `SELECT * FROM sandbox.gen.rows_${rows}`);

/** Reads a whole result with trino-client, counting rows (the client keeps none) and HTTP requests. */
async function readAll(server: string, headers: Record<string, string>, rows: number): Promise<{ ms: number; requests: number }> {
  const trino = Trino.create({ server, extraHeaders: headers });
  // Every request of a query (POST, then each nextUri, empty pages too) goes through Client.request.
  const client = (trino as unknown as { client: { request: (cfg: unknown) => Promise<unknown> } }).client;
  const request = client.request.bind(client);
  let requests = 0;
  client.request = (cfg) => {
    requests++;
    return request(cfg);
  };
  const started = performance.now();
  let count = 0;
  for await (const page of await trino.query(sql(rows))) {
    if (page.error) throw new Error(`query failed: ${page.error.message}`);
    count += page.data?.length ?? 0;
  }
  const ms = performance.now() - started;
  if (count !== rows) throw new Error(`read ${count} rows, expected ${rows}`);
  return { ms, requests };
}

/** What the bench reports of one side (CPU and memory for the sides that are a process of their own). */
interface SideReport {
  ms: number[];
  pagesPerRun: number;
  ratio: number;
  bestRatio: number;
  cpuMsPerPage?: number;
  userMsPerPage?: number;
  systemMsPerPage?: number;
  cpuMsPerPageByRound?: number[];
  cpuToRelay?: number;
  peakRssMb?: Record<string, number> & { growthTo1M: number };
}

/** One side of the comparison: where the client reads from, with which headers, and the process to measure. */
interface Side {
  name: string;
  url: string;
  headers: Record<string, string>;
  pid?: number;
  ms: number[];
  /** HTTP requests of the timed rounds (POST and nextUri GETs): the pages relayed. */
  requests: number;
  cpu: { user: number; system: number };
  /** Peak RSS (VmHWM) after the warm-up's 100,000 rows, after the first timed run, after all rounds. */
  rss: { small: number; large: number; all: number };
  /** CPU ms per page of each round. */
  cpuPerPage: number[];
}

async function main(): Promise<void> {
  const { startSandbox } = await import('../sandbox/index');
  const sandbox = await startSandbox();
  const coordinator = REAL_TRINO ? { url: REAL_TRINO, child: undefined } : await startChild('coordinator');
  const children: ChildProcess[] = coordinator.child ? [coordinator.child] : [];
  const bffs: BffProcess[] = [];
  const bffEnv = {
    ...sandbox.env,
    TRINO_URL: coordinator.url,
    ...(process.env.BENCH_BFF_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_BFF_NODE_OPTIONS } : {}),
  };
  try {
    const token = await sandbox.issuer.issueToken({ user: 'alice', expiresInS: 3600 });
    // trino-client (axios) asks for gzip by default, and a real Trino compresses its pages for it; the
    // proxies forward no Accept-Encoding, so their coordinator answers uncompressed. Every side asks for
    // uncompressed pages, so that all of them read the same bytes from the coordinator.
    const identity = { 'Accept-Encoding': 'identity' };
    const viaBff = { ...identity, Authorization: `Bearer ${token}` };
    const direct = { ...identity, 'X-Trino-User': 'alice' };
    const side = (name: string, url: string, headers: Record<string, string>, pid?: number): Side => ({
      name,
      url,
      headers,
      pid,
      ms: [],
      requests: 0,
      cpu: { user: 0, system: 0 },
      rss: { small: 0, large: 0, all: 0 },
      cpuPerPage: [],
    });
    const bff = await startBffProcess(bffEnv);
    bffs.push(bff);
    const sides = [side('direct', coordinator.url, direct), side('bff', bff.url, viaBff, bff.child.pid)];
    for (const [name, main] of BASELINES) {
      const baseline = await startBffProcess(bffEnv, path.resolve(main));
      bffs.push(baseline);
      sides.push(side(name, baseline.url, viaBff, baseline.child.pid));
    }
    if (WITH_RELAY) {
      const relay = await startChild('relay', { TRINO_URL: coordinator.url });
      children.push(relay.child);
      sides.push(side('relay', relay.url, direct, relay.child.pid));
    }
    // Warm-up (JIT, connection pools, the verified-token cache).
    for (const s of sides) await readAll(s.url, s.headers, 20_000);
    for (const s of sides) if (s.name !== 'direct') await readAll(s.url, s.headers, SMALL_ROWS);
    for (const s of sides) if (s.pid) s.rss.small = peakRss(s.pid);

    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < sides.length; k++) {
        const s = sides[(r + k) % sides.length];
        const before = s.pid ? cpuMs(s.pid) : undefined;
        const run = await readAll(s.url, s.headers, ROWS);
        s.ms.push(run.ms);
        s.requests += run.requests;
        if (s.pid && before) {
          const after = cpuMs(s.pid);
          s.cpu.user += after.user - before.user;
          s.cpu.system += after.system - before.system;
          s.cpuPerPage.push((after.user - before.user + after.system - before.system) / run.requests);
        }
        if (s.pid && r === 0) s.rss.large = peakRss(s.pid);
      }
    }
    for (const s of sides) if (s.pid) s.rss.all = peakRss(s.pid);

    const directMean = avg(sides[0].ms);
    const relay = sides.find((s) => s.name === 'relay');
    /** The median over the rounds of this side's CPU per page over the relay's in the same round: the load of other processes cancels. */
    const toRelay = (s: Side) => (relay && s !== relay ? { cpuToRelay: round3(median(s.cpuPerPage.map((c, r) => c / relay.cpuPerPage[r]))) } : {});
    const report: Record<string, SideReport> = Object.fromEntries(
      sides.map((s): [string, SideReport] => [
        s.name,
        {
          ms: s.ms.map(Math.round),
          pagesPerRun: Math.round(s.requests / ROUNDS),
          ratio: round3(avg(s.ms) / directMean),
          bestRatio: round3(Math.min(...s.ms) / Math.min(...sides[0].ms)),
          ...(s.pid
            ? {
                cpuMsPerPage: round3((s.cpu.user + s.cpu.system) / s.requests),
                userMsPerPage: round3(s.cpu.user / s.requests),
                systemMsPerPage: round3(s.cpu.system / s.requests),
                cpuMsPerPageByRound: s.cpuPerPage.map(round3),
                ...toRelay(s),
                peakRssMb: {
                  [`after${SMALL_ROWS}Rows`]: mb(s.rss.small),
                  [`after${ROWS}Rows`]: mb(s.rss.large),
                  afterAllRounds: mb(s.rss.all),
                  growthTo1M: mb(s.rss.large - s.rss.small),
                  growthAllRounds: mb(s.rss.all - s.rss.small),
                },
              }
            : {}),
        },
      ]),
    );
    const ratio = report.bff.ratio;
    const growthTo1M = report.bff.peakRssMb?.growthTo1M ?? Infinity;
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      coordinator: REAL_TRINO ? 'trino' : 'emulator',
      query: sql(ROWS),
      rows: ROWS,
      pageRows: REAL_TRINO ? undefined : PAGE_ROWS,
      rounds: ROUNDS,
      ...report,
      targets: { ratio: MAX_RATIO, cpuMsPerPage: MAX_CPU_MS_PER_PAGE, rssGrowthMb: MAX_RSS_GROWTH_MB },
      pass: ratio <= MAX_RATIO && (report.bff.cpuMsPerPage ?? Infinity) <= MAX_CPU_MS_PER_PAGE && growthTo1M < MAX_RSS_GROWTH_MB,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const dir = path.join(process.cwd(), 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, REAL_TRINO ? 'trino-real.json' : `trino-${PAGE_ROWS}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.exitCode = result.pass ? 0 : 1;
  } finally {
    for (const b of bffs) await b.stop();
    for (const c of children) {
      c.disconnect();
    }
    await sandbox.close();
  }
}

const roles: Record<string, () => Promise<void>> = { coordinator: coordinatorMain, relay: relayMain };
(roles[process.argv[2]] ?? main)().catch((err: unknown) => {
  process.stderr.write(`trino bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
