/**
 * Limits against unauthenticated or cheap attacks (issue 15 items 3 and 4), against the built BFF as
 * its own process (NODE_ENV=production, KEYCLOAK_URL at the sandbox issuer, no Valkey: the in-memory
 * StateStore), from the repository root:
 *
 *   npm run build && node dist/app/bench/limits.bench.js
 *
 * BENCH_BFF_MAIN=/path/to/dist/main.js measures another build instead (e.g. one of the commit before
 * the fix, built in a worktree of its own: the "without" side). BENCH_ONLY=json or login runs one part.
 *
 * json: BENCH_DEEP_SENDERS (4) clients each POST /api/agents, one after another for BENCH_DURATION_S
 *   (10), a body nested 200,000 deep (≈400 KB), while /health/live is probed every 50 ms. Reported: the
 *   BFF's own maximum and p99 event-loop delay over the window (prom-client's monitorEventLoopDelay
 *   histogram, reset by each /metrics scrape), /health/live latencies (median, p99, max), the answers'
 *   statuses.
 * login: BENCH_LOGINS (20,000) GET /auth/login from one client, BENCH_LOGIN_CONCURRENCY (20) in
 *   flight, each with a returnTo of BENCH_RETURN_TO_CHARS (500) characters. Reported: the statuses, and
 *   the BFF's resident set (RSS) and V8 heap in use before and after (1 s after the last), from its /metrics.
 */
import { startSandbox } from '../sandbox/index';
import { startBffProcess } from './lib';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const DEEP_SENDERS = Number(process.env.BENCH_DEEP_SENDERS ?? 4);
const LOGINS = Number(process.env.BENCH_LOGINS ?? 20_000);
const LOGIN_CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 20);
const ONLY = process.env.BENCH_ONLY;
const RETURN_TO_CHARS = Number(process.env.BENCH_RETURN_TO_CHARS ?? 500);

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const ms = (s: number) => Math.round(s * 1000 * 10) / 10;
function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
function count(statuses: number[]): string {
  const by = new Map<number, number>();
  for (const s of statuses) by.set(s, (by.get(s) ?? 0) + 1);
  return [...by]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
}

async function deepJson(url: string, token: string): Promise<void> {
  const deep = `{"name":"deep","settings":{"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
  await metric(url, 'bff_nodejs_eventloop_lag_max_seconds'); // resets the histogram
  const until = Date.now() + DURATION_S * 1000;
  const statuses: number[] = [];
  const senders = Array.from({ length: DEEP_SENDERS }, async () => {
    while (Date.now() < until) {
      const res = await fetch(`${url}/api/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: deep,
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  });
  const live: number[] = [];
  const probe = (async () => {
    while (Date.now() < until) {
      const t0 = performance.now();
      await (await fetch(`${url}/health/live`)).arrayBuffer();
      live.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.all([...senders, probe]);
  const maxLag = await metric(url, 'bff_nodejs_eventloop_lag_max_seconds');
  const p99Lag = await metric(url, 'bff_nodejs_eventloop_lag_p99_seconds');
  live.sort((a, b) => a - b);
  console.log(`\n## deep JSON: ${DEEP_SENDERS} senders × ${DURATION_S} s of bodies nested 200,000 deep`);
  console.log('| deep requests | statuses | BFF event-loop delay max ms | p99 ms | /health/live probes | median ms | p99 ms | max ms |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
  const r = (x: number) => Math.round(x * 10) / 10;
  console.log(
    `| ${statuses.length} | ${count(statuses)} | ${ms(maxLag)} | ${ms(p99Lag)} | ${live.length} | ${r(quantile(live, 0.5))} | ${r(quantile(live, 0.99))} | ${r(live[live.length - 1])} |`,
  );
}

async function logins(url: string): Promise<void> {
  const returnTo = encodeURIComponent(`/mlflow/#/${'x'.repeat(Math.max(0, RETURN_TO_CHARS - 9))}`);
  const before = await metric(url, 'bff_process_resident_memory_bytes');
  const heapBefore = await metric(url, 'bff_nodejs_heap_size_used_bytes');
  const statuses: number[] = [];
  let next = 0;
  const workers = Array.from({ length: LOGIN_CONCURRENCY }, async () => {
    while (next < LOGINS) {
      next++;
      const res = await fetch(`${url}/auth/login?returnTo=${returnTo}`, { redirect: 'manual' });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  });
  await Promise.all(workers);
  await new Promise((r) => setTimeout(r, 1000));
  const after = await metric(url, 'bff_process_resident_memory_bytes');
  const heapAfter = await metric(url, 'bff_nodejs_heap_size_used_bytes');
  const mb = (b: number) => Math.round(b / 1024 / 1024);
  console.log(`\n## ${LOGINS} GET /auth/login from one client (returnTo ${RETURN_TO_CHARS} characters)`);
  console.log('| statuses | RSS before MB | RSS after MB | RSS growth MB | V8 heap used growth MB |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| ${count(statuses)} | ${mb(before)} | ${mb(after)} | **+${mb(after - before)}** | +${mb(heapAfter - heapBefore)} |`);
}

async function main(): Promise<void> {
  const sandbox = await startSandbox();
  const bff = await startBffProcess({ ...sandbox.env, KEYCLOAK_URL: sandbox.env.KEYCLOAK_URL }, process.env.BENCH_BFF_MAIN);
  try {
    console.log(`BFF: ${process.env.BENCH_BFF_MAIN ?? 'dist/main.js'}`);
    if (ONLY === undefined || ONLY === 'json') await deepJson(bff.url, await sandbox.issuer.issueToken({ user: 'alice' }));
    if (ONLY === undefined || ONLY === 'login') await logins(bff.url);
  } finally {
    await bff.stop();
    await sandbox.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
