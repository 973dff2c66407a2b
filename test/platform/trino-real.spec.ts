import { randomBytes } from 'node:crypto';
import { Trino } from 'trino-client';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';
import { GENERATED_TABLES, trinoScenarios, type TrinoTarget } from './trino-scenarios';
import { SERVICE_USER, startRealTrino, trinoAvailable, type RealTrino } from './trino-server';

/**
 * The Trino scenarios against a real Trino 476 (scripts/fetch-trino.sh), HTTPS with a certificate of
 * the shipped init script that the BFF trusts through TRINO_CA_FILE, JWT authentication against the
 * sandbox issuer's JWKS, PASSWORD for the service account, docker/trino's access-control rules. One
 * coordinator for the whole file; one BFF per TRINO_AUTH mode.
 */
jest.setTimeout(120_000);

const describeTrino = trinoAvailable() ? describe : describe.skip;
if (!trinoAvailable()) {
  // Never silently: `npm run test:platform` runs scripts/fetch-trino.sh first.
  console.warn('real Trino not in the cache: run scripts/fetch-trino.sh (skipping test/platform/trino-real.spec.ts)');
}

describeTrino('the Trino scenarios against a real Trino 476', () => {
  let sandbox: Sandbox;
  let trino: RealTrino;

  beforeAll(async () => {
    sandbox = await startSandbox();
    trino = await startRealTrino({ jwt: { issuer: sandbox.issuer.issuer, jwksUri: sandbox.issuer.jwksUri } });
    process.stderr.write(`[platform] real Trino ready in ${trino.startMs} ms (pid ${trino.process.pid})\n`);
    await trino.query('CREATE SCHEMA sandbox.gen');
    for (const n of GENERATED_TABLES) {
      // id 1..n, label 'row-<id>', as the emulator generates them (sequence() is limited to 10,000 values).
      await trino.query(
        `CREATE TABLE sandbox.gen.rows_${n} AS SELECT CAST(t * 1000 + u + 1 AS bigint) AS id, 'row-' || CAST(t * 1000 + u + 1 AS varchar) AS label ` +
          `FROM UNNEST(sequence(0, ${Math.ceil(n / 1000) - 1})) a(t) CROSS JOIN UNNEST(sequence(0, 999)) b(u) WHERE t * 1000 + u < ${n}`,
      );
    }
  }, 400_000);
  afterAll(async () => {
    await trino?.stop();
    await sandbox?.close();
  });

  const target = (bff: () => TestBff): TrinoTarget => ({
    bff,
    direct: (user) => Trino.create({ server: trino.httpUrl, extraHeaders: { 'X-Trino-User': user } }),
    internalHosts: () => [new URL(trino.httpUrl).host, new URL(trino.httpsUrl).host, `127.0.0.1:${new URL(trino.httpsUrl).port}`],
    requestsDuring: async (action) => {
      const before = trino.requestLog().length;
      await action();
      // The log is flushed per request, in arrival order: once a marker request is in it, so is everything before.
      const marker = `/v1/info?platform-marker=${randomBytes(6).toString('hex')}`;
      await fetch(`${trino.httpUrl}${marker}`);
      await waitUntil(() => trino.requestLog().some((l) => l.includes(marker)), { timeoutMs: 10_000, what: 'the marker in Trino’s request log' });
      return trino.requestLog().slice(before);
    },
  });

  describe('TRINO_AUTH=none (the plain listener, which trusts X-Trino-User)', () => {
    let bff: TestBff;
    beforeAll(async () => {
      bff = await startTestBff({ TRINO_URL: trino.httpUrl, TRINO_AUTH: 'none' }, { sandbox });
    });
    afterAll(() => bff?.close());
    trinoScenarios(target(() => bff));
  });

  describe('TRINO_AUTH=exchange (HTTPS, JWT of the exchanged token, principal preferred_username)', () => {
    let bff: TestBff;
    beforeAll(async () => {
      bff = await startTestBff({ TRINO_URL: trino.httpsUrl, TRINO_CA_FILE: trino.caFile, TRINO_AUTH: 'exchange', TRINO_AUDIENCE: 'trino' }, { sandbox });
    });
    afterAll(() => bff?.close());
    trinoScenarios(target(() => bff));
  });

  describe('TRINO_AUTH=basic (HTTPS, PASSWORD of the service account, impersonation rules)', () => {
    let bff: TestBff;
    beforeAll(async () => {
      bff = await startTestBff(
        { TRINO_URL: trino.httpsUrl, TRINO_CA_FILE: trino.caFile, TRINO_AUTH: 'basic', TRINO_BASIC_AUTH: `${SERVICE_USER}:${trino.servicePassword}` },
        { sandbox },
      );
    });
    afterAll(() => bff?.close());
    trinoScenarios(target(() => bff));
  });
});
