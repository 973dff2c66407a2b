import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Trino } from 'trino-client';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { fileSetUp } from '../support/file-set-up';
import { freePort, waitUntil } from '../support/net';
import { startTlsFront, type TlsFront } from './tls-front';
import { GENERATED_TABLES, trinoScenarios, type TrinoTarget } from './trino-scenarios';
import { SERVICE_USER, startRealTrino, TRINO_CACHE, TRINO_JAVA_HOME, trinoAvailable, type RealTrino } from './trino-server';

const execFileAsync = promisify(execFile);

/**
 * The Trino scenarios against a real Trino 476 (scripts/fetch-trino.sh), HTTPS with a certificate of
 * the shipped init script that the BFF trusts through TRINO_CA_FILE, JWT authentication against the
 * sandbox issuer's JWKS, PASSWORD for the service account, docker/trino's access-control rules. One
 * coordinator for the whole file; one BFF per TRINO_AUTH mode.
 */
jest.setTimeout(120_000);
const STARTUP_MS = 400_000;

// Never skipped: `npm test` and `npm run test:platform` fetch Trino first (scripts/fetch-trino.sh); a missing
// install is a failure of the suite, not a quiet skip.
if (!trinoAvailable()) throw new Error('real Trino is not in the cache: run scripts/fetch-trino.sh');
const describeTrino = describe;

/** The emulator's generated tables, in the real Trino's memory catalog. */
async function createGeneratedTables(trino: RealTrino): Promise<void> {
  await trino.query('CREATE SCHEMA sandbox.gen');
  for (const n of GENERATED_TABLES) {
    // id 1..n, label 'row-<id>', as the emulator generates them (sequence() is limited to 10,000 values).
    await trino.query(
      `CREATE TABLE sandbox.gen.rows_${n} AS SELECT CAST(t * 1000 + u + 1 AS bigint) AS id, 'row-' || CAST(t * 1000 + u + 1 AS varchar) AS label ` +
        `FROM UNNEST(sequence(0, ${Math.ceil(n / 1000) - 1})) a(t) CROSS JOIN UNNEST(sequence(0, 999)) b(u) WHERE t * 1000 + u < ${n}`,
    );
  }
}

/**
 * Sends a marker request to Trino and waits until its line is in the request log (flushed per request); returns its
 * path and the start time the log gives it (ISO-8601, which sorts as text).
 */
async function markTrinoLog(trino: RealTrino): Promise<{ path: string; startedAt: string }> {
  const path = `/v1/info?platform-marker=${randomBytes(6).toString('hex')}`;
  await fetch(`${trino.httpUrl}${path}`);
  let line: string | undefined;
  await waitUntil(() => (line = trino.requestLog().find((l) => l.includes(path))) !== undefined, {
    timeoutMs: 10_000,
    what: 'the marker in Trino’s request log',
  });
  return { path, startedAt: line!.split('\t')[0] };
}

describeTrino('a real Trino 476 (one coordinator for the file)', () => {
  let sandbox: Sandbox;
  let trino: RealTrino;
  const setUp = fileSetUp();

  beforeAll(
    () =>
      setUp.run(async () => {
        sandbox = await startSandbox();
        trino = await startRealTrino({ jwt: { issuer: sandbox.issuer.issuer, jwksUri: sandbox.issuer.jwksUri } });
        process.stderr.write(`[platform] real Trino ready in ${trino.startMs} ms (pid ${trino.process.pid})\n`);
        await createGeneratedTables(trino);
      }),
    STARTUP_MS,
  );
  afterAll(async () => {
    await setUp.settled();
    await trino?.stop();
    await sandbox?.close();
  }, STARTUP_MS + 60_000);

  const target = (bff: () => TestBff): TrinoTarget => ({
    bff,
    direct: (user) => Trino.create({ server: trino.httpUrl, extraHeaders: { 'X-Trino-User': user } }),
    internalHosts: () => [new URL(trino.httpUrl).host, new URL(trino.httpsUrl).host, `127.0.0.1:${new URL(trino.httpsUrl).port}`],
    requestsDuring: async (action) => {
      // Trino writes a request's line when the request completes, so a request answered just before the action can
      // be logged after it starts. A marker before and one after bound the window; a line counts when its request
      // began (the line's first field) at or after the first marker's, and was logged before the second marker.
      // Times are compared as instants: Trino trims trailing zeros (…39.87Z is 870 ms), so as strings …39.87Z sorts
      // after …39.871Z.
      const firstMarker = await markTrinoLog(trino);
      await action();
      const lastMarker = await markTrinoLog(trino);
      const log = trino.requestLog();
      const from = log.findIndex((l) => l.includes(firstMarker.path));
      const to = log.findIndex((l) => l.includes(lastMarker.path));
      const startedAt = (line: string) => Date.parse(line.split('\t')[0]);
      const since = Date.parse(firstMarker.startedAt);
      return log.slice(0, to).filter((l, i) => i !== from && startedAt(l) >= since);
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

  /**
   * The real clients through the BFF (TRINO_AUTH=exchange, behind an HTTPS front, as clients send a
   * bearer token only over HTTPS): the trino CLI 476, the JDBC driver 476, the Python `trino` client and
   * the npm `trino-client`, each reading every row of a 25,000-row result and seeing the token's user.
   */
  describe('the real Trino clients through the BFF', () => {
    let bff: TestBff;
    let front: TlsFront;
    let jdbcClasses: string;
    let token: string;
    const SQL = 'SELECT id FROM sandbox.gen.rows_25000';
    const EXPECTED = `rows=25000 sum=${(25000 * 25001) / 2} user=alice`;
    const java = join(TRINO_JAVA_HOME, 'bin', 'java');
    const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
      execFileAsync(cmd, args, { env: { ...process.env, TRINO_TOKEN: token, TRINO_CA: trino.caFile, ...env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });

    beforeAll(async () => {
      const frontPort = await freePort();
      bff = await startTestBff(
        { TRINO_URL: trino.httpsUrl, TRINO_CA_FILE: trino.caFile, TRINO_AUTH: 'exchange', TRINO_AUDIENCE: 'trino', PUBLIC_URL: `https://localhost:${frontPort}` },
        { sandbox },
      );
      front = await startTlsFront(trino.frontPem, Number(new URL(bff.url).port), frontPort);
      token = await bff.token('alice');
      jdbcClasses = mkdtempSync(join(tmpdir(), 'platform-jdbc-'));
      await execFileAsync(join(TRINO_JAVA_HOME, 'bin', 'javac'), ['-d', jdbcClasses, join(__dirname, 'clients', 'JdbcRows.java')]);
    }, 120_000);
    afterAll(async () => {
      await front?.close();
      await bff?.close();
      if (jdbcClasses) rmSync(jdbcClasses, { recursive: true, force: true });
    });

    it('trino CLI 476 (executable jar)', async () => {
      const { stdout } = await run(java, [
        '-jar',
        join(TRINO_CACHE, 'trino-cli.jar'),
        `--server=https://localhost:${front.port}`,
        `--access-token=${token}`,
        `--truststore-path=${trino.caFile}`,
        '--output-format=TSV',
        `--execute=${SQL}; SELECT current_user`,
      ]);
      const lines = stdout.trim().split('\n');
      const ids = lines.slice(0, -1).map(Number);
      expect(`rows=${ids.length} sum=${ids.reduce((a, b) => a + b, 0)} user=${lines.at(-1)}`).toBe(EXPECTED);
    });

    it('JDBC driver 476', async () => {
      const { stdout } = await run(java, ['-cp', `${jdbcClasses}:${join(TRINO_CACHE, 'trino-jdbc.jar')}`, 'JdbcRows', `jdbc:trino://localhost:${front.port}`, SQL]);
      expect(stdout.trim()).toBe(EXPECTED);
    });

    it('Python trino client', async () => {
      // requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on some machines) override the client's `verify`.
      const { stdout } = await run(join(TRINO_CACHE, 'venv', 'bin', 'python'), [join(__dirname, 'clients', 'trino_rows.py'), 'localhost', String(front.port), SQL], {
        REQUESTS_CA_BUNDLE: trino.caFile,
        CURL_CA_BUNDLE: trino.caFile,
      });
      expect(stdout.trim()).toBe(EXPECTED);
    });

    it('npm trino-client', async () => {
      const client = Trino.create({
        server: `https://localhost:${front.port}`,
        extraHeaders: { Authorization: `Bearer ${token}` },
        ssl: { ca: readFileSync(trino.caFile, 'utf8') },
      });
      let rows = 0;
      let sum = 0;
      for await (const page of await client.query(SQL)) {
        expect(page.error).toBeUndefined();
        for (const [id] of page.data ?? []) {
          rows++;
          sum += Number(id);
        }
      }
      const user = [];
      for await (const page of await client.query('SELECT current_user')) user.push(...(page.data ?? []));
      expect(`rows=${rows} sum=${sum} user=${user[0][0]}`).toBe(EXPECTED);
    });
  });
});
