import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { SANDBOX_CLIENT_ID, startSandbox } from '../sandbox/index';
import { oauth2ProxyBinary, startGatewayNginx, startOauth2Proxy } from './gateway-peers';
import { run, startBffProcess } from './lib';
import { alternateMedian, ratioTable, type Row } from './rounds';

/**
 * `npm run bench:peers`: the BFF side by side with what a team would pick instead (bench/peers/,
 * its own npm package: nest-keycloak-connect needs NestJS < 11). Same sandbox issuer, same 1,000
 * distinct tokens, same machine, one run, every run alternated (A B C … A B C …) so drift cancels.
 *
 * The sides: the BFF's GET /auth/me, its own public GET /health/live sent without a token,
 * Fastify + @fastify/jwt (cache on), the bare Fastify ceiling, nest-keycloak-connect and Express +
 * passport-jwt; the ext-authz checks; and one real nginx with auth_request to the BFF's /api/auth or
 * to oauth2-proxy (bench/gateway-peers.ts) in front of the same upstream location.
 *
 * Targets: BFF /api/auth behind nginx >= 1.0x oauth2-proxy behind the same nginx; GET /auth/me
 * >= 1.0x @fastify/jwt cached, >= 0.9x the bare Fastify route, and >= 0.9x the BFF's own public
 * GET /health/live. Before any figure is taken, every authenticating side (the BFF and both nginx
 * doors included) must refuse no token, forged, tampered, expired, wrong-issuer and wrong-audience
 * tokens, and accept a valid one: the bench reports nothing when one does not.
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
const FASTIFY_JWT = 'fastify-jwt';
const BARE = 'fastify-bare';
const BFF_LIVE = 'BFF GET /health/live (no token)';
const NGINX_BFF = 'nginx auth_request → BFF /api/auth';
const NGINX_O2P = 'nginx auth_request → oauth2-proxy';
/** The location both nginx doors protect (the BFF's policy for it: REGULAR or ADMIN). */
const GATEWAY_PATH = '/api/agents';

const verdict = (x: number, target: number) => `${x.toFixed(2)} (target >= ${target}): ${x >= target ? 'met' : 'NOT met'}`;

async function main() {
  peersLib.ensureDeps();
  const o2pBin = oauth2ProxyBinary();
  const withPublicKey = process.env.BENCH_PEERS_PUBLIC_KEY === '1';
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const durationS = Number(process.env.BENCH_DURATION_S ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const cleanPct = Number(process.env.BENCH_CLEAN_PCT ?? 10);

  const loadBefore = loadavg();
  const sandbox = await startSandbox();
  const peerEnv = { ISSUER: sandbox.issuer.issuer, JWKS_URI: sandbox.issuer.jwksUri, AUDIENCE: SANDBOX_CLIENT_ID };
  const stops: Array<() => Promise<void>> = [() => sandbox.close()];
  try {
    const bff = await startBffProcess({ ...sandbox.env });
    stops.unshift(() => bff.stop());
    const peerNames = [KC, ...(withPublicKey ? [KC_PK] : []), PASSPORT, FASTIFY_JWT, BARE];
    const peers: Record<string, Peer> = {};
    for (const name of peerNames) {
      peers[name] = await peersLib.startPeer(name, peerEnv);
      stops.unshift(() => peers[name].stop());
    }
    const o2p = await startOauth2Proxy(o2pBin, { issuer: sandbox.issuer.issuer, audience: SANDBOX_CLIENT_ID });
    stops.unshift(() => o2p.stop());
    const nginx = await startGatewayNginx({ bffUrl: bff.url, oauth2ProxyUrl: o2p.url });
    stops.unshift(() => nginx.stop());

    // 1. Each authenticating side must really verify, or its figure means nothing.
    const cases = await checksLib.cases(sandbox.issuer);
    const upstreamSawAlice = (_res: Response, body: string) => (body === '{"user":"alice"}' ? undefined : `the upstream answered ${body}`);
    const toCheck: Array<[string, string, ((res: Response, body: string) => string | undefined)?]> = [
      [BFF_ME, `${bff.url}/auth/me`],
      [BFF_VALIDATE, `${bff.url}/api/validate/v1/statement`],
      [NGINX_BFF, `${nginx.bffUrl}${GATEWAY_PATH}`, upstreamSawAlice],
      [NGINX_O2P, `${nginx.oauth2ProxyUrl}${GATEWAY_PATH}`, upstreamSawAlice],
      ...peerNames
        .filter((n) => n !== BARE)
        .flatMap((n): Array<[string, string]> => [
          [`${n} GET /me`, `${peers[n].url}/me`],
          [`${n} /validate/v1/statement`, `${peers[n].url}/validate/v1/statement`],
        ]),
    ];
    for (const [label, url, check] of toCheck) {
      const failures = await checksLib.verifyApp(url, cases, check);
      if (failures.length > 0) throw new Error(`${label} does not verify tokens (no figures are reported):\n  ${failures.join('\n  ')}`);
    }
    process.stdout.write(`verification checks passed (${cases.length} cases × ${toCheck.length} routes)\n`);

    // 2. The same 1,000 distinct tokens for every run, and the same Authorization header everywhere
    // (the bare ceiling gets it too and ignores it), so request sizes and the load generator's work are
    // equal; only the BFF's public route is sent without one (what a caller of it sends).
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => sandbox.issuer.issueToken({ user: ['alice', 'admin'][i % 2], claims: { jti: `bench-${i}` }, expiresInS: 3600 })),
    );
    const auth = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    const noToken = () => ({});
    const targets: Array<{ name: string; url: string; pid?: number; frontPid?: number; headersFor?: (i: number) => Record<string, string> }> = [
      { name: BFF_ME, url: `${bff.url}/auth/me`, pid: bff.child.pid },
      { name: BFF_LIVE, url: `${bff.url}/health/live`, pid: bff.child.pid, headersFor: noToken },
      ...peerNames.map((n) => ({ name: `${n} GET /me`, url: `${peers[n].url}/me`, pid: peers[n].child.pid })),
      { name: BFF_VALIDATE, url: `${bff.url}/api/validate/v1/statement`, pid: bff.child.pid },
      { name: `${KC} /validate/v1/statement`, url: `${peers[KC].url}/validate/v1/statement`, pid: peers[KC].child.pid },
      { name: NGINX_BFF, url: `${nginx.bffUrl}${GATEWAY_PATH}`, pid: bff.child.pid, frontPid: nginx.pid },
      { name: NGINX_O2P, url: `${nginx.oauth2ProxyUrl}${GATEWAY_PATH}`, pid: o2p.pid, frontPid: nginx.pid },
    ];
    const go = (t: (typeof targets)[number], s: number) => run(t.name, t.url, { durationS: s, connections, headersFor: t.headersFor ?? auth });
    // Warm-up: JIT, connection pools, and every token seen once by every app (the BFF's first sight
    // of a token costs one RS256 verification; after that its verified-token cache answers).
    for (const t of targets) await go(t, 2);

    const { rows, kept, anyClean, samples } = await alternateMedian(
      rounds,
      targets.map((t) => ({ name: t.name, pid: t.pid, frontPid: t.frontPid, go: () => go(t, durationS) })),
      durationS,
      cleanPct,
    );
    const loadAfter = loadavg();
    const byName = (n: string) => rows.find((r) => r.name === n)!;
    const bffMe = byName(BFF_ME);
    const isValidate = (r: Row) => r.name.endsWith('/validate/v1/statement');
    const isGateway = (r: Row) => r.name.startsWith('nginx');
    const meRows = rows.filter((r) => !isValidate(r) && !isGateway(r));

    const ratios = {
      gatewayVsOauth2Proxy: byName(NGINX_BFF).rps / byName(NGINX_O2P).rps,
      meVsFastifyJwt: bffMe.rps / byName(`${FASTIFY_JWT} GET /me`).rps,
      meVsBare: bffMe.rps / byName(`${BARE} GET /me`).rps,
      meVsOwnPublic: bffMe.rps / byName(BFF_LIVE).rps,
      meVsPassport: bffMe.rps / byName(`${PASSPORT} GET /me`).rps,
      validateVsKc: byName(BFF_VALIDATE).rps / byName(`${KC} /validate/v1/statement`).rps,
    };
    const cpuRatio = (a: string, b: string) => (byName(a).cpuUs / byName(b).cpuUs).toFixed(2);
    const failedRuns = rows.filter((r) => r.errors > 0 || r.non2xx > 0).map((r) => r.name);
    const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');

    const out = [
      '',
      `${rounds} rounds × ${durationS} s per run, alternated; medians over ${kept.length === rounds ? 'all the rounds' : `the clean rounds ${kept.map((r) => r + 1).join(', ')}`} ` +
        `(clean: other processes took ≤ ${cleanPct} % of the machine during every run of the round${anyClean ? '' : '; NONE was clean: the figures are taken under load from other work'}); ${connections} connections; 1,000 distinct tokens; ` +
        `node ${process.version}, ${cpus().length} cores shared by autocannon and the servers; load average (1/5/15 min) ${load(loadBefore)} at start, ` +
        `${load(loadAfter)} at the end (the bench itself accounts for about 2; more means other work shared the CPU)`,
      '',
      'Authenticated identity (GET /auth/me vs each peer’s GET /me, and the BFF’s own public route):',
      '',
      ratioTable(meRows, bffMe),
      '',
      `nginx auth_request in front of one upstream location (${GATEWAY_PATH}); server CPU = the auth server's:`,
      '',
      ratioTable(rows.filter(isGateway), byName(NGINX_BFF)),
      '',
      'ext-authz (Envoy-style check returning x-trino-user):',
      '',
      ratioTable(rows.filter(isValidate), byName(BFF_VALIDATE)),
      '',
      `nginx → BFF /api/auth ÷ nginx → oauth2-proxy = ${verdict(ratios.gatewayVsOauth2Proxy, 1)}; auth server CPU per request: oauth2-proxy ÷ BFF = ${cpuRatio(NGINX_O2P, NGINX_BFF)}`,
      `BFF /auth/me ÷ Fastify + @fastify/jwt (cached) = ${verdict(ratios.meVsFastifyJwt, 1)}; CPU per request @fastify/jwt ÷ BFF = ${cpuRatio(`${FASTIFY_JWT} GET /me`, BFF_ME)}`,
      `BFF /auth/me ÷ bare Fastify = ${verdict(ratios.meVsBare, 0.9)}; CPU per request bare ÷ BFF = ${cpuRatio(`${BARE} GET /me`, BFF_ME)}`,
      `BFF /auth/me (1,000 tokens) ÷ BFF /health/live (no token) = ${verdict(ratios.meVsOwnPublic, 0.9)}; CPU per request public ÷ authenticated = ${cpuRatio(BFF_LIVE, BFF_ME)}`,
      `BFF /auth/me ÷ passport-jwt = ${ratios.meVsPassport.toFixed(2)}; BFF /api/validate ÷ nest-keycloak-connect guard = ${ratios.validateVsKc.toFixed(2)}`,
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
          ratios,
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
