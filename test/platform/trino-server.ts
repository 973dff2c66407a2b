import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerPath, parseProperties, readDocker } from '../deploy/deploy-files';
import { freePort, waitUntil } from '../support/net';
import { spawnProcess, type ManagedProcess } from '../support/processes';
import { TRINO_VERSION } from '../support/platform/versions';

/**
 * A real Trino 476 coordinator on loopback, for the platform tier: the release fetched by
 * scripts/fetch-trino.sh, started with docker/trino's shipped files (config, password authenticator,
 * access control, rules, catalog), rewritten only where a loopback test must differ (ports, paths,
 * the issuer's JWKS), and TLS material made by the shipped docker/init/init.sh. Stopped by pid.
 */
export const PLATFORM_CACHE = process.env.PLATFORM_BFF_CACHE ?? join(homedir(), '.cache', 'platform-bff');
export const TRINO_CACHE = join(PLATFORM_CACHE, `trino-${TRINO_VERSION}`);
/** Java ≥ 24 for Trino 476: the Temurin JDK 25 of the machine, unless TRINO_JAVA_HOME names another. */
export const TRINO_JAVA_HOME = process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';
/** The account of TRINO_AUTH=basic, as docker/trino/rules.json lets it impersonate users. */
export const SERVICE_USER = 'svc-bff';
/** A user of the test only: it fills the test's `sandbox` memory catalog over the plain-HTTP port. */
export const SETUP_USER = 'platform-setup';

export interface RealTrinoOptions {
  /** JWT authentication against this issuer (config.properties' jwt.* keys, audience as shipped). */
  jwt: { issuer: string; jwksUri: string };
  /** Extra config.properties lines (e.g. the spooling protocol). */
  extraConfig?: Record<string, string>;
  /** Files to write into etc/ beside the shipped ones (name → content). */
  extraEtc?: Record<string, string>;
}

export interface RealTrino {
  /** https://localhost:PORT: the HTTPS listener (JWT, PASSWORD). */
  readonly httpsUrl: string;
  /** http://127.0.0.1:PORT: the plain listener, which trusts X-Trino-User (as Envoy's in compose). */
  readonly httpUrl: string;
  /** The CA that signed the coordinator's certificate (PEM file). */
  readonly caFile: string;
  /** Key and certificate (SAN localhost) of the same CA, from init.sh's gateway material: for an HTTPS front of the BFF. */
  readonly frontPem: string;
  /** The password of SERVICE_USER in the password file. */
  readonly servicePassword: string;
  readonly process: ManagedProcess;
  /** Milliseconds from spawn to a coordinator that runs queries. */
  readonly startMs: number;
  /** Lines of Trino's HTTP request log so far ("METHOD path ..."), flushed per request. */
  requestLog(): string[];
  /** Runs SQL on the plain port as `user`; resolves with the rows, rejects with Trino's error. */
  query(sql: string, user?: string): Promise<unknown[][]>;
  stop(): Promise<void>;
}

export function trinoAvailable(): boolean {
  return existsSync(join(TRINO_CACHE, 'server', 'bin', 'launcher')) && existsSync(join(TRINO_JAVA_HOME, 'bin', 'java'));
}

/** Rewrites a shipped .properties file: keys of `set` replaced in place (or appended), keys mapped to null removed. */
export function rewriteProperties(text: string, set: Record<string, string | null>): string {
  parseProperties(text); // the shipped file is well-formed (throws on duplicates)
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([^#!\s][^=:]*?)\s*[=:]/.exec(line);
    if (m && m[1] in set) {
      seen.add(m[1]);
      const v = set[m[1]];
      if (v !== null) out.push(`${m[1]}=${v}`);
      continue;
    }
    out.push(line);
  }
  for (const [k, v] of Object.entries(set)) if (!seen.has(k) && v !== null) out.push(`${k}=${v}`);
  return out.join('\n') + '\n';
}

/** docker/trino/rules.json plus the test's `sandbox` catalog: writable by SETUP_USER, read-only for everyone else. */
export function testRules(): string {
  const rules = JSON.parse(readDocker('trino/rules.json')) as { catalogs: unknown[] };
  rules.catalogs = [{ user: SETUP_USER, catalog: 'sandbox', allow: 'all' }, { catalog: 'sandbox', allow: 'read-only' }, ...rules.catalogs];
  return JSON.stringify(rules, null, 2);
}

export async function startRealTrino(opts: RealTrinoOptions): Promise<RealTrino> {
  const dir = mkdtempSync(join(tmpdir(), 'platform-trino-'));
  const etc = join(dir, 'etc');
  const tls = join(dir, 'tls');
  mkdirSync(join(etc, 'catalog'), { recursive: true });
  for (const d of ['ca', 'trino', 'trino-gateway', 'gateway-rules', 'state']) mkdirSync(join(tls, d), { recursive: true });
  const servicePassword = randomBytes(12).toString('hex');
  // The shipped init script makes the CA, trino.pem (SAN localhost) and the bcrypt password file.
  execFileSync('sh', [dockerPath('init/init.sh')], {
    env: {
      ...process.env,
      INIT_STATE_DIR: join(tls, 'state'),
      INIT_OUT_DIR: tls,
      INIT_SEED_DIR: dockerPath('trino-gateway'),
      TRINO_BFF_PASSWORD: servicePassword,
    },
    stdio: 'ignore',
  });
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const shipped = (name: string) => readDocker('trino', name);
  writeFileSync(
    join(etc, 'config.properties'),
    rewriteProperties(shipped('config.properties'), {
      'discovery.uri': `http://127.0.0.1:${httpPort}`,
      'http-server.http.port': String(httpPort),
      'http-server.https.port': String(httpsPort),
      'http-server.https.keystore.path': join(tls, 'trino', 'trino.pem'),
      'http-server.authentication.jwt.key-file': opts.jwt.jwksUri,
      'http-server.authentication.jwt.required-issuer': opts.jwt.issuer,
      'http-server.log.path': join(dir, 'http-request.log'),
      'http-server.log.immediate-flush': 'true',
      // One JVM of 1 GB on a shared machine: small query memory, few threads.
      'query.max-memory': '256MB',
      'query.max-memory-per-node': '256MB',
      'task.concurrency': '2',
      ...opts.extraConfig,
    }),
  );
  writeFileSync(
    join(etc, 'password-authenticator.properties'),
    rewriteProperties(shipped('password-authenticator.properties'), { 'file.password-file': join(tls, 'trino', 'password.db') }),
  );
  writeFileSync(join(etc, 'rules.json'), testRules());
  writeFileSync(
    join(etc, 'access-control.properties'),
    rewriteProperties(shipped('access-control.properties'), { 'security.config-file': join(etc, 'rules.json') }),
  );
  writeFileSync(join(etc, 'catalog', 'tpch.properties'), shipped('catalog/tpch.properties'));
  writeFileSync(join(etc, 'catalog', 'sandbox.properties'), 'connector.name=memory\nmemory.max-data-per-node=128MB\n');
  writeFileSync(
    join(etc, 'node.properties'),
    `node.environment=platform\nnode.id=platform-test\nnode.internal-address=127.0.0.1\nnode.data-dir=${join(dir, 'data')}\n`,
  );
  writeFileSync(
    join(etc, 'jvm.config'),
    ['-server', '-Xmx1G', '-XX:+UseG1GC', '-XX:+ExitOnOutOfMemoryError', '-XX:TieredStopAtLevel=1', '-Djdk.attach.allowAttachSelf=true', '-Xshare:auto'].join('\n') +
      '\n',
  );
  for (const [name, content] of Object.entries(opts.extraEtc ?? {})) writeFileSync(join(etc, name), content);

  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const started = Date.now();
  const proc = await spawnProcess(join(TRINO_CACHE, 'server', 'bin', 'launcher'), {
    name: 'trino',
    args: ['run', `--etc-dir=${etc}`, `--data-dir=${join(dir, 'data')}`],
    env: { JAVA_HOME: TRINO_JAVA_HOME, TRINO_SHARED_SECRET: randomBytes(24).toString('hex') },
    readyLine: /======== SERVER STARTED ========/,
    timeoutMs: 300_000,
    graceMs: 15_000,
  });
  const trino: RealTrino = {
    httpsUrl: `https://localhost:${httpsPort}`,
    httpUrl,
    caFile: join(tls, 'ca', 'ca.pem'),
    frontPem: readFileSync(join(tls, 'trino-gateway', 'trino-gateway.pem'), 'utf8'),
    servicePassword,
    process: proc,
    startMs: 0,
    requestLog: () => {
      try {
        return readFileSync(join(dir, 'http-request.log'), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    query: (sql, user = SETUP_USER) => runDirect(httpUrl, sql, user),
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Started is not ready: the coordinator runs a query on its workers (itself) once its scheduler knows one is
  // active. `SELECT 1` runs on the coordinator alone and answers before that; a table scan needs a worker (two
  // clean-clone runs had the first scans answered NO_NODES_AVAILABLE after `SELECT 1` had passed).
  const refusals: string[] = [];
  await waitUntil(
    async () => {
      try {
        return JSON.stringify(await trino.query('SELECT count(*) FROM tpch.tiny.nation')) === '[[25]]';
      } catch (err) {
        refusals.push((err as { trinoError?: { errorName?: string } }).trinoError?.errorName ?? String(err));
        return false;
      }
    },
    { timeoutMs: 120_000, intervalMs: 500, what: 'Trino to run a query on a worker' },
  );
  if (refusals.length) process.stderr.write(`[platform] Trino refused ${refusals.length} scan(s) before it was ready: ${[...new Set(refusals)].join(', ')}\n`);
  (trino as { startMs: number }).startMs = Date.now() - started;
  return trino;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The client protocol, straight to the coordinator's plain port as `user`. */
export async function runDirect(base: string, sql: string, user: string): Promise<unknown[][]> {
  let res = await fetch(`${base}/v1/statement`, { method: 'POST', body: sql, headers: { 'X-Trino-User': user } });
  const rows: unknown[][] = [];
  for (;;) {
    if (res.status !== 200) throw new Error(`Trino answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as Json;
    if (page.error) throw Object.assign(new Error(`Trino: ${page.error.message}`), { trinoError: page.error });
    if (page.data) rows.push(...(page.data as unknown[][]));
    if (!page.nextUri) return rows;
    res = await fetch(page.nextUri as string, { headers: { 'X-Trino-User': user } });
  }
}
