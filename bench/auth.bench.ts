import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSandbox } from '../sandbox/index';
import { alternate, run, startBffProcess, table } from './lib';

/**
 * `npm run bench`: in one run, side by side, a public route against GET /auth/me cycling
 * 1,000 distinct valid tokens, and the Envoy ext_authz check /api/validate. Target:
 * authenticated throughput at least 0.9 of the public route's.
 */
async function main() {
  const sandbox = await startSandbox();
  const bff = await startBffProcess({ ...sandbox.env, KEYCLOAK_URL: sandbox.env.KEYCLOAK_URL });
  try {
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => sandbox.issuer.issueToken({ user: ['alice', 'admin'][i % 2], claims: { jti: `bench-${i}` }, expiresInS: 3600 })),
    );
    const auth = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    // Warm-up: every token verified once (first sight costs one RS256 check; then the verified-token cache serves it).
    await run('warmup', `${bff.url}/auth/me`, { durationS: 3, headersFor: auth });
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
    const durationS = Number(process.env.BENCH_DURATION_S ?? 5);
    // The public route gets the same Authorization header (which it ignores), so that request size, parsing
    // and the load generator's own work are equal on both sides: the ratio is the cost of authentication alone.
    const rows = await alternate(rounds, [
      () => run('public GET /health/live', `${bff.url}/health/live`, { durationS, headersFor: auth }),
      () => run('GET /auth/me (1,000 tokens)', `${bff.url}/auth/me`, { durationS, headersFor: auth }),
      () => run('GET /api/validate/v1/statement', `${bff.url}/api/validate/v1/statement`, { durationS, headersFor: auth }),
    ]);
    const out = table(rows, 'public GET /health/live');
    process.stdout.write(`\n${out}\n\n`);
    const ratio = rows[1].rps / rows[0].rps;
    process.stdout.write(`authenticated / public = ${ratio.toFixed(2)} (target >= 0.90): ${ratio >= 0.9 ? 'met' : 'NOT met'}\n`);
    mkdirSync(join(process.cwd(), 'bench/results'), { recursive: true });
    writeFileSync(join(process.cwd(), 'bench/results/auth.json'), JSON.stringify({ date: new Date().toISOString(), rows, ratio }, null, 2));
  } finally {
    await bff.stop();
    await sandbox.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
