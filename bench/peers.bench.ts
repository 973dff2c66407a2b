import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { SANDBOX_CLIENT_ID, startSandbox } from '../sandbox/index';
import { run, startBffProcess, type RunResult } from './lib';

/**
 * `npm run bench:peers`: the BFF side by side with what a team would pick instead (bench/peers/,
 * its own npm package: nest-keycloak-connect needs NestJS < 11). Same sandbox issuer, same 1,000
 * distinct tokens, same machine, one run, every run alternated (A B C … A B C …) so drift cancels.
 *
 * Targets: the BFF's GET /auth/me at least 4x the best authenticating peer and at least 0.6x the
 * bare Fastify ceiling. Before any figure is taken, every authenticating app (the BFF included)
 * must refuse forged, tampered, expired, wrong-issuer and wrong-audience tokens.
 *
 * Besides req/s and latency, each run reports the server's own CPU time per request (from
 * /proc/<pid>/stat): on a 2-core machine shared by the load generator, and by anything else that
 * runs, req/s moves with the neighbours, CPU per request much less.
 *
 * Env: BENCH_ROUNDS (5), BENCH_DURATION_S (5), BENCH_CONNECTIONS (50),
 * BENCH_PEERS_PUBLIC_KEY=1 adds nest-keycloak-connect with a fixed realm-public-key.
 */

interface Peer {
  name: string;
  url: string;
  child: { pid?: number };
  stop(): Promise<void>;
}
interface PeersLib {
  ensureDeps(): void;
  startPeer(name: string, env: Record<string, string>): Promise<Peer>;
}
interface Case {
  name: string;
  token?: string;
  expect: number;
}
interface ChecksLib {
  cases(issuer: { issueToken(o?: object): Promise<string> }): Promise<Case[]>;
  verifyApp(url: string, cases: Case[], check?: (res: Response, body: string) => string | undefined): Promise<string[]>;
}

// dist/app/bench/peers.bench.js → the repository's bench/peers (plain CommonJS, not compiled); for a
// build outside the tree, the working directory's bench/peers.
const PEERS_DIR = [join(__dirname, '../../../bench/peers'), join(process.cwd(), 'bench/peers')].find((d) => existsSync(join(d, 'launch.js')));
if (!PEERS_DIR) throw new Error('bench/peers not found: run from the repository root');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const peersLib = require(join(PEERS_DIR, 'launch.js')) as PeersLib;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const checksLib = require(join(PEERS_DIR, 'checks.js')) as ChecksLib;

const BFF_ME = 'BFF GET /auth/me';
const BFF_VALIDATE = 'BFF /api/validate/v1/statement';
const KC = 'nest-keycloak-connect';
const KC_PK = 'nest-keycloak-connect (realm-public-key)';
const PASSPORT = 'express-passport';
const BARE = 'fastify-bare';

interface Row extends RunResult {
  /** Server CPU (user + system) per request, µs; NaN where /proc is unavailable. */
  cpuUs: number;
  /** Median share of the machine's CPU used by other processes during the runs kept, %. */
  othersPct: number;
  rounds: number[];
}

interface Sample extends RunResult {
  cpuUs: number;
  othersPct: number;
}

/** CPU time (user + system) of a process in ms, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return NaN;
  }
}

/** Busy CPU time of the whole machine in ms (user, nice, system, irq, softirq), from /proc/stat. */
function machineBusyMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] + f[1] + f[2] + f[5] + f[6]) * 1000) / 100;
  } catch {
    return NaN;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Alternates the runs A B C … rounds times, measuring for each run the server's CPU per request and
 * the CPU that other processes took meanwhile (machine busy time − server − this process, which is
 * autocannon's). A round is clean when no run in it saw other processes take more than cleanPct of
 * the machine; rows are medians over the clean rounds (over all rounds when none is clean).
 */
async function alternateMedian(
  rounds: number,
  runs: Array<{ name: string; pid?: number; go: () => Promise<RunResult> }>,
  durationS: number,
  cleanPct: number,
): Promise<{ rows: Row[]; kept: number[]; anyClean: boolean; samples: Sample[][] }> {
  const all = runs.map(() => [] as Sample[]);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < runs.length; k++) {
      const server0 = cpuMs(runs[k].pid);
      const busy0 = machineBusyMs();
      const self0 = process.cpuUsage();
      const t0 = Date.now();
      const res = await runs[k].go();
      const self = process.cpuUsage(self0);
      const server = cpuMs(runs[k].pid) - server0;
      const others = machineBusyMs() - busy0 - server - (self.user + self.system) / 1000;
      const capacity = (Date.now() - t0) * cpus().length;
      all[k].push({ ...res, cpuUs: (server * 1000) / Math.max(1, res.rps * durationS), othersPct: Math.max(0, (100 * others) / capacity) });
    }
  }
  const clean = Array.from({ length: rounds }, (_, r) => r).filter((r) => all.every((rs) => !(rs[r].othersPct > cleanPct)));
  const kept = clean.length > 0 ? clean : Array.from({ length: rounds }, (_, r) => r);
  const rows = all.map((every, k) => {
    const rs = kept.map((r) => every[r]);
    return {
      name: runs[k].name,
      rps: Math.round(median(rs.map((x) => x.rps))),
      p50: r2(median(rs.map((x) => x.p50))),
      p99: r2(median(rs.map((x) => x.p99))),
      errors: every.reduce((a, x) => a + x.errors, 0),
      non2xx: every.reduce((a, x) => a + x.non2xx, 0),
      cpuUs: Math.round(median(rs.map((x) => x.cpuUs))),
      othersPct: Math.round(median(rs.map((x) => x.othersPct))),
      rounds: every.map((x) => Math.round(x.rps)),
    };
  });
  return { rows, kept, anyClean: clean.length > 0, samples: all };
}

function ratioTable(rows: Row[], bff: Row): string {
  const lines = [
    '| run | req/s | p50 ms | p99 ms | errors | non-2xx | server CPU µs/req | other processes | BFF ÷ this (req/s) | this ÷ BFF (CPU/req) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const same = r === bff;
    lines.push(
      `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${r.cpuUs} | ${r.othersPct} % | ${same ? '1.00' : (bff.rps / r.rps).toFixed(2)} | ${same ? '1.00' : (r.cpuUs / bff.cpuUs).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  peersLib.ensureDeps();
  const withPublicKey = process.env.BENCH_PEERS_PUBLIC_KEY === '1';
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const durationS = Number(process.env.BENCH_DURATION_S ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const cleanPct = Number(process.env.BENCH_CLEAN_PCT ?? 10);

  const loadBefore = loadavg()[0];
  const sandbox = await startSandbox();
  const peerEnv = { ISSUER: sandbox.issuer.issuer, JWKS_URI: sandbox.issuer.jwksUri, AUDIENCE: SANDBOX_CLIENT_ID };
  const stops: Array<() => Promise<void>> = [() => sandbox.close()];
  try {
    const bff = await startBffProcess({ ...sandbox.env });
    stops.unshift(() => bff.stop());
    const peerNames = [KC, ...(withPublicKey ? [KC_PK] : []), PASSPORT, BARE];
    const peers: Record<string, Peer> = {};
    for (const name of peerNames) {
      peers[name] = await peersLib.startPeer(name, peerEnv);
      stops.unshift(() => peers[name].stop());
    }

    // 1. Each authenticating app must really verify, or its figure means nothing.
    const cases = await checksLib.cases(sandbox.issuer);
    const toCheck: Array<[string, string]> = [
      [BFF_ME, `${bff.url}/auth/me`],
      [BFF_VALIDATE, `${bff.url}/api/validate/v1/statement`],
      ...peerNames
        .filter((n) => n !== BARE)
        .flatMap((n): Array<[string, string]> => [
          [`${n} GET /me`, `${peers[n].url}/me`],
          [`${n} /validate/v1/statement`, `${peers[n].url}/validate/v1/statement`],
        ]),
    ];
    for (const [label, url] of toCheck) {
      const failures = await checksLib.verifyApp(url, cases);
      if (failures.length > 0) throw new Error(`${label} does not verify tokens:\n  ${failures.join('\n  ')}`);
    }
    process.stdout.write(`verification checks passed (${cases.length} cases × ${toCheck.length} routes)\n`);

    // 2. The same 1,000 distinct tokens for every run, and the same Authorization header everywhere
    // (the bare ceiling gets it too and ignores it), so request sizes and the load generator's work are equal.
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => sandbox.issuer.issueToken({ user: ['alice', 'admin'][i % 2], claims: { jti: `bench-${i}` }, expiresInS: 3600 })),
    );
    const auth = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    const targets: Array<{ name: string; url: string; pid?: number }> = [
      { name: BFF_ME, url: `${bff.url}/auth/me`, pid: bff.child.pid },
      ...peerNames.map((n) => ({ name: `${n} GET /me`, url: `${peers[n].url}/me`, pid: peers[n].child.pid })),
      { name: BFF_VALIDATE, url: `${bff.url}/api/validate/v1/statement`, pid: bff.child.pid },
      { name: `${KC} /validate/v1/statement`, url: `${peers[KC].url}/validate/v1/statement`, pid: peers[KC].child.pid },
    ];
    // Warm-up: JIT, connection pools, and every token seen once by every app (the BFF's first sight
    // of a token costs one RS256 verification; after that its verified-token cache answers).
    for (const t of targets) await run(`warmup ${t.name}`, t.url, { durationS: 2, connections, headersFor: auth });

    const { rows, kept, anyClean, samples } = await alternateMedian(
      rounds,
      targets.map((t) => ({ name: t.name, pid: t.pid, go: () => run(t.name, t.url, { durationS, connections, headersFor: auth }) })),
      durationS,
      cleanPct,
    );
    const loadAfter = loadavg()[0];
    const byName = (n: string) => rows.find((r) => r.name === n)!;
    const bffMe = byName(BFF_ME);
    const bffValidate = byName(BFF_VALIDATE);
    const isValidate = (r: Row) => r.name.endsWith('/validate/v1/statement');
    const meRows = rows.filter((r) => !isValidate(r));
    const validateRows = rows.filter(isValidate);

    const authPeers = meRows.filter((r) => r !== bffMe && !r.name.startsWith(BARE));
    const best = authPeers.reduce((a, b) => (b.rps > a.rps ? b : a));
    const bare = byName(`${BARE} GET /me`);
    const kcValidate = byName(`${KC} /validate/v1/statement`);
    const vsBest = bffMe.rps / best.rps;
    const vsBare = bffMe.rps / bare.rps;
    const vsKcValidate = bffValidate.rps / kcValidate.rps;
    const failedRuns = rows.filter((r) => r.errors > 0 || r.non2xx > 0).map((r) => r.name);

    const out = [
      '',
      `${rounds} rounds × ${durationS} s per run, alternated; medians over ${kept.length === rounds ? 'all the rounds' : `the clean rounds ${kept.map((r) => r + 1).join(', ')}`} ` +
        `(clean: other processes took ≤ ${cleanPct} % of the machine during every run of the round${anyClean ? '' : '; NONE was clean: the figures are depressed by other work'}); ${connections} connections; 1,000 distinct tokens; ` +
        `node ${process.version}, ${cpus().length} cores shared by autocannon and the server; 1-min load average ${loadBefore.toFixed(2)} at start, ` +
        `${loadAfter.toFixed(2)} at the end (the bench itself accounts for about 2; more means other work shared the CPU)`,
      '',
      'Authenticated identity (GET /auth/me vs each peer’s GET /me):',
      '',
      ratioTable(meRows, bffMe),
      '',
      'ext-authz (Envoy-style check returning x-trino-user):',
      '',
      ratioTable(validateRows, bffValidate),
      '',
      `BFF /auth/me ÷ best authenticating peer (${best.name}) = ${vsBest.toFixed(2)} req/s (target >= 4): ${vsBest >= 4 ? 'met' : 'NOT met'}; ` +
        `CPU per request ${(best.cpuUs / bffMe.cpuUs).toFixed(2)}x less`,
      `BFF /auth/me ÷ bare Fastify ceiling = ${vsBare.toFixed(2)} req/s (target >= 0.6): ${vsBare >= 0.6 ? 'met' : 'NOT met'}; ` +
        `CPU per request ${(bare.cpuUs / bffMe.cpuUs).toFixed(2)} of the BFF's`,
      `BFF /api/validate ÷ nest-keycloak-connect guard = ${vsKcValidate.toFixed(2)} req/s; CPU per request ${(kcValidate.cpuUs / bffValidate.cpuUs).toFixed(2)}x less`,
      `each round, req/s (other processes %): ${rows.map((r, k) => `${r.name} [${samples[k].map((x) => `${Math.round(x.rps)} (${Math.round(x.othersPct)})`).join(' ')}]`).join('; ')}`,
      ...(failedRuns.length > 0 ? [`WARNING: errors or non-2xx answers in: ${failedRuns.join(', ')}`] : []),
      '',
    ].join('\n');
    process.stdout.write(out);
    mkdirSync(join(process.cwd(), 'bench/results'), { recursive: true });
    writeFileSync(
      join(process.cwd(), 'bench/results/peers.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          rounds,
          durationS,
          connections,
          loadBefore,
          loadAfter,
          cleanPct,
          keptRounds: kept.map((r) => r + 1),
          rows,
          samples,
          vsBest,
          vsBare,
          vsKcValidate,
          best: best.name,
        },
        null,
        2,
      ),
    );
    if (failedRuns.length > 0) process.exitCode = 1;
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
