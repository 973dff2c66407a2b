import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { SANDBOX_CLIENT_ID, startSandbox } from '../sandbox/index';
import { alternate, run, startBffProcess, type RunResult } from './lib';

/**
 * `npm run bench:peers`: the BFF side by side with what a team would pick instead (bench/peers/,
 * its own npm package: nest-keycloak-connect needs NestJS < 11). Same sandbox issuer, same 1,000
 * distinct tokens, same machine, one run, every run alternated (A B C … A B C …) so drift cancels.
 *
 * Targets: the BFF's GET /auth/me at least 4x the best authenticating peer and at least 0.6x the
 * bare Fastify ceiling. Before any figure is taken, every authenticating app (the BFF included)
 * must refuse forged, tampered, expired, wrong-issuer and wrong-audience tokens.
 *
 * Env: BENCH_ROUNDS (3), BENCH_DURATION_S (5), BENCH_CONNECTIONS (50),
 * BENCH_PEERS_PUBLIC_KEY=1 adds nest-keycloak-connect with a fixed realm-public-key.
 */

interface Peer {
  name: string;
  url: string;
  stop(): Promise<void>;
}
interface PeersLib {
  PEERS: Record<string, unknown>;
  DIR: string;
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
const PEERS_DIR = [join(__dirname, '../../../bench/peers'), join(process.cwd(), 'bench/peers')].find((d) => existsSync(join(d, 'launch.js')))!;
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

function ratioTable(rows: RunResult[], bff: RunResult): string {
  const lines = ['| run | req/s | p50 ms | p99 ms | errors | non-2xx | BFF ÷ this |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${r === bff ? '1.00' : (bff.rps / r.rps).toFixed(2)} |`);
  return lines.join('\n');
}

async function main() {
  peersLib.ensureDeps();
  const withPublicKey = process.env.BENCH_PEERS_PUBLIC_KEY === '1';
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const durationS = Number(process.env.BENCH_DURATION_S ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

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
      ...peerNames.filter((n) => n !== BARE).flatMap((n): Array<[string, string]> => [
        [`${n} GET /me`, `${peers[n].url}/me`],
        [`${n} /validate/v1/statement`, `${peers[n].url}/validate/v1/statement`],
      ]),
    ];
    for (const [label, url] of toCheck) {
      const failures = await checksLib.verifyApp(url, cases);
      if (failures.length > 0) throw new Error(`${label} does not verify tokens:\n  ${failures.join('\n  ')}`);
    }
    process.stdout.write(`verification checks passed (${cases.length} cases × ${toCheck.length} routes)\n`);

    // 2. The same 1,000 distinct tokens for every run, and the same Authorization header size everywhere
    // (the bare ceiling gets it too and ignores it).
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => sandbox.issuer.issueToken({ user: ['alice', 'admin'][i % 2], claims: { jti: `bench-${i}` }, expiresInS: 3600 })),
    );
    const auth = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    const targets: Array<[string, string]> = [
      [BFF_ME, `${bff.url}/auth/me`],
      ...peerNames.map((n): [string, string] => [`${n} GET /me`, `${peers[n].url}/me`]),
      [BFF_VALIDATE, `${bff.url}/api/validate/v1/statement`],
      [`${KC} /validate/v1/statement`, `${peers[KC].url}/validate/v1/statement`],
    ];
    // Warm-up: JIT, connection pools, and every token seen once by every app (the BFF's first sight
    // of a token costs one RS256 verification; after that its verified-token cache answers).
    for (const [name, url] of targets) await run(`warmup ${name}`, url, { durationS: 2, connections, headersFor: auth });

    const rows = await alternate(
      rounds,
      targets.map(([name, url]) => () => run(name, url, { durationS, connections, headersFor: auth })),
    );
    const loadAfter = loadavg()[0];
    const byName = (n: string) => rows.find((r) => r.name === n)!;
    const bffMe = byName(BFF_ME);
    const bffValidate = byName(BFF_VALIDATE);
    const meRows = rows.filter((r) => r !== bffValidate && !r.name.endsWith('/validate/v1/statement'));
    const validateRows = rows.filter((r) => r === bffValidate || r.name.endsWith('/validate/v1/statement'));

    const authPeers = meRows.filter((r) => r !== bffMe && !r.name.startsWith(BARE));
    const best = authPeers.reduce((a, b) => (b.rps > a.rps ? b : a));
    const bare = byName(`${BARE} GET /me`);
    const vsBest = bffMe.rps / best.rps;
    const vsBare = bffMe.rps / bare.rps;
    const vsKcValidate = bffValidate.rps / byName(`${KC} /validate/v1/statement`).rps;
    const failedRuns = rows.filter((r) => r.errors > 0 || r.non2xx > 0).map((r) => r.name);

    const out = [
      '',
      `${rounds} rounds × ${durationS} s per run, alternated; ${connections} connections; 1,000 distinct tokens; node ${process.version}, ${cpus().length} cores (load generator and server share them); 1-min load average ${loadBefore.toFixed(2)} at start, ${loadAfter.toFixed(2)} at the end (the bench itself accounts for about 2; more means other work shared the CPU)`,
      '',
      'Authenticated identity (GET /auth/me vs each peer’s GET /me):',
      '',
      ratioTable(meRows, bffMe),
      '',
      'ext-authz (Envoy-style check returning x-trino-user):',
      '',
      ratioTable(validateRows, bffValidate),
      '',
      `BFF /auth/me ÷ best authenticating peer (${best.name}) = ${vsBest.toFixed(2)} (target >= 4): ${vsBest >= 4 ? 'met' : 'NOT met'}`,
      `BFF /auth/me ÷ bare Fastify ceiling = ${vsBare.toFixed(2)} (target >= 0.6): ${vsBare >= 0.6 ? 'met' : 'NOT met'}`,
      `BFF /api/validate ÷ nest-keycloak-connect guard = ${vsKcValidate.toFixed(2)}`,
      ...(failedRuns.length > 0 ? [`WARNING: errors or non-2xx answers in: ${failedRuns.join(', ')}`] : []),
      '',
    ].join('\n');
    process.stdout.write(out);
    mkdirSync(join(process.cwd(), 'bench/results'), { recursive: true });
    writeFileSync(
      join(process.cwd(), 'bench/results/peers.json'),
      JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, durationS, connections, loadBefore, loadAfter, rows, vsBest, vsBare, vsKcValidate, best: best.name }, null, 2),
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
