'use strict';
// `node bench/peers/smoke.js` (after `npm run build` in the repository root, for the sandbox issuer):
// every authenticating peer must accept a valid token and refuse forged, tampered, expired,
// wrong-issuer and wrong-audience ones with 401; the bare Fastify ceiling (no auth) answers 200 to all.
const { join } = require('node:path');
const { existsSync } = require('node:fs');
const { ensureDeps, startPeer, PEERS } = require('./launch');
const { cases, verifyApp } = require('./checks');

const SANDBOX = join(__dirname, '../../dist/app/sandbox/oidc-issuer.js');

async function main() {
  if (!existsSync(SANDBOX)) throw new Error(`${SANDBOX} is missing: run \`npm run build\` in the repository root first`);
  ensureDeps();
  const { startOidcIssuer } = require(SANDBOX);
  const issuer = await startOidcIssuer({ realm: 'platform', clients: [{ clientId: 'platform-frontend', audienceMappers: ['platform-bff'] }] });
  const env = { ISSUER: issuer.issuer, JWKS_URI: issuer.jwksUri, AUDIENCE: 'platform-bff' };
  const theCases = await cases(issuer);
  const me = (res, body) => (JSON.parse(body).username === 'alice' ? undefined : `unexpected body ${body}`);
  const trinoUser = (res) => (res.headers.get('x-trino-user') === 'alice' ? undefined : `x-trino-user is ${res.headers.get('x-trino-user')}`);
  let failed = 0;
  let passed = 0;
  const report = (label, failures) => {
    if (failures.length === 0) {
      passed++;
      process.stdout.write(`ok   ${label}\n`);
    } else {
      failed++;
      process.stdout.write(`FAIL ${label}\n${failures.map((f) => `     ${f}\n`).join('')}`);
    }
  };
  for (const name of Object.keys(PEERS)) {
    const peer = await startPeer(name, env);
    try {
      if (name === 'fastify-bare') {
        // The ceiling does no authentication: every case must get 200.
        report(
          `${name} GET /me answers everything (no auth, the ceiling)`,
          await verifyApp(
            `${peer.url}/me`,
            theCases.map((c) => ({ ...c, expect: 200 })),
          ),
        );
        continue;
      }
      report(`${name} GET /me verifies`, await verifyApp(`${peer.url}/me`, theCases, me));
      report(`${name} ALL /validate/v1/statement verifies`, await verifyApp(`${peer.url}/validate/v1/statement`, theCases, trinoUser));
    } finally {
      await peer.stop();
    }
  }
  await issuer.close();
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`smoke failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
