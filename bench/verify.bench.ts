/**
 * Token verification, per request: why the BFF does not authenticate through passport (@nestjs/passport's
 * AuthGuard runs its strategy, here passport-jwt, on every request) but verifies a token once and
 * serves the next requests with it from the verified-token cache (src/auth/token-verifier.service.ts).
 *
 * In one process, with the sandbox OIDC issuer's RS256 keys (fetched once by jwks-rsa, as in production):
 * - strategy per request: TokenVerifier.verify() on a token it has not seen — the passport-jwt strategy
 *   run (jsonwebtoken signature, exp/nbf/iss/aud checks) plus the BFF's structural checks, i.e. what a
 *   passport guard would spend on every request, not counting passport's own middleware;
 * - cached: TokenVerifier.verify() on a token verified before (a Map lookup and the expiry check).
 *
 *   npm run build && bash scripts/node24.sh node dist/app/bench/verify.bench.js
 *
 * Options (env): BENCH_TOKENS (2000, distinct tokens for the uncached side), BENCH_CACHED (1000000 calls).
 */
import { performance } from 'node:perf_hooks';
import { startOidcIssuer } from '../sandbox/oidc-issuer';
import { SANDBOX_CLIENT_ID, SANDBOX_REALM, sandboxClients } from '../sandbox/index';
import { TokenVerifier } from '../src/auth/token-verifier.service';
import { loadConfig } from '../src/config/load-config';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 2000);
const CACHED = Number(process.env.BENCH_CACHED ?? 1_000_000);

async function main(): Promise<void> {
  const issuer = await startOidcIssuer({ realm: SANDBOX_REALM, clients: sandboxClients('demo', 'bench-secret-not-used') });
  try {
    const config = loadConfig({
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      KEYCLOAK_URL: issuer.url,
      KEYCLOAK_REALM: SANDBOX_REALM,
      BFF_CLIENT_ID: SANDBOX_CLIENT_ID,
      BFF_CLIENT_SECRET: 'x',
    });
    const verifier = new TokenVerifier(config);
    const tokens: string[] = [];
    for (let i = 0; i < TOKENS; i++) tokens.push(await issuer.issueToken({ user: 'alice', claims: { jti: `bench-${i}` } }));
    await verifier.verify(tokens[0]); // the JWKS fetch, once
    tokens.shift();

    let t = performance.now();
    for (const token of tokens) await verifier.verify(token);
    const strategyUs = ((performance.now() - t) * 1000) / tokens.length;

    const token = tokens[0];
    t = performance.now();
    for (let i = 0; i < CACHED; i++) await verifier.verify(token);
    const cachedUs = ((performance.now() - t) * 1000) / CACHED;

    console.log(`node ${process.version}`);
    console.log(`strategy per request (passport-jwt, a token not seen before): ${strategyUs.toFixed(1)} µs/request (${tokens.length} tokens)`);
    console.log(`cached verify (a token verified before):                      ${cachedUs.toFixed(2)} µs/request (${CACHED} calls)`);
    console.log(`ratio: ${(strategyUs / cachedUs).toFixed(0)}×`);
  } finally {
    await issuer.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
