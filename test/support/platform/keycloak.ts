import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../net';
import { spawnProcess, type ManagedProcess } from '../processes';
import { platformCache } from './cache';
import { KEYCLOAK_VERSION } from './versions';

/** The shipped realm file: copied as is into the instance's import directory, never a committed copy. */
export const REALM_FILE = join(__dirname, '../../../docker/keycloak/realm.json');
export const KEYCLOAK_REALM = 'platform';

/** The realm's placeholders (docker/keycloak/realm.json), which Keycloak resolves from its environment on import. */
export const REALM_PLACEHOLDERS = [
  'BFF_CLIENT_SECRET',
  'BFF_LOGIN_CLIENT_SECRET',
  'TRINO_GW_CLIENT_SECRET',
  'OTEL_COLLECTOR_CLIENT_SECRET',
  'CI_PIPELINE_CLIENT_SECRET',
  'DEMO_USER_PASSWORD',
] as const;
export type RealmSecrets = Record<(typeof REALM_PLACEHOLDERS)[number], string>;

export const keycloakDist = () => join(platformCache(), 'keycloak', `keycloak-${KEYCLOAK_VERSION}`);
/** The augmented (built) server of the configuration the tier runs, kept beside the dist so later starts skip the build. */
const builtQuarkus = () => join(platformCache(), 'keycloak', `keycloak-${KEYCLOAK_VERSION}.quarkus-dev-mem`);

export function keycloakAvailable(): boolean {
  return existsSync(join(keycloakDist(), 'bin', 'kc.sh'));
}

export interface KeycloakAdmin {
  /** A call of the admin REST API (…/admin/realms/platform + path) as the bootstrap admin; JSON in and out. */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; location?: string }>;
}

export interface RealKeycloak {
  /** e.g. http://127.0.0.1:41234 (KEYCLOAK_URL) */
  url: string;
  realm: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  secrets: RealmSecrets;
  admin: KeycloakAdmin;
  process: ManagedProcess;
  /** Seconds from spawn to ready, and whether the server had to be built (augmented) first. */
  startup: { seconds: number; built: boolean };
  stop(): Promise<void>;
}

/**
 * A real Keycloak (the cached keycloak-quarkus-dist of scripts/fetch-platform.sh) for the
 * real-platform tier: `start-dev --import-realm` with docker/keycloak/realm.json as shipped (its
 * placeholders from the environment, random per start), an in-memory database, a bounded heap,
 * on free loopback ports. Each start gets its own home directory (a temporary one: the import
 * directory and the built server live there; the jars are a symlink into the cache), so that
 * several instances may run at once. Ready when the management port's /health/ready and the
 * realm's discovery document answer. stop() ends the process group by the launcher's pid.
 */
export async function startKeycloak(opts: { timeoutMs?: number; heap?: string; backchannelLogoutUrl?: string } = {}): Promise<RealKeycloak> {
  const dist = keycloakDist();
  if (!keycloakAvailable()) throw new Error(`Keycloak ${KEYCLOAK_VERSION} is not in ${dist}: run scripts/fetch-platform.sh (npm test runs it)`);
  const home = mkdtempSync(join(tmpdir(), 'platform-keycloak-'));
  mkdirSync(join(home, 'lib'));
  mkdirSync(join(home, 'data', 'import'), { recursive: true });
  for (const d of ['bin', 'conf', 'themes', 'providers', 'version.txt']) if (existsSync(join(dist, d))) cpSync(join(dist, d), join(home, d), { recursive: true });
  for (const d of ['app', 'quarkus-run.jar']) cpSync(join(dist, 'lib', d), join(home, 'lib', d), { recursive: true });
  symlinkSync(join(dist, 'lib', 'lib'), join(home, 'lib', 'lib'));
  const built = builtQuarkus();
  cpSync(existsSync(built) ? built : join(dist, 'lib', 'quarkus'), join(home, 'lib', 'quarkus'), { recursive: true });
  cpSync(REALM_FILE, join(home, 'data', 'import', 'realm.json'));

  const secret = () => randomBytes(18).toString('base64url');
  const secrets = Object.fromEntries(REALM_PLACEHOLDERS.map((k) => [k, secret()])) as RealmSecrets;
  const adminUser = 'kc-bootstrap-admin';
  const adminPassword = secret();
  const issuerOf = (p: number) => `http://127.0.0.1:${p}/realms/${KEYCLOAK_REALM}`;
  const started = Date.now();
  const launch = (port: number, managementPort: number) =>
    spawnProcess(join(home, 'bin', 'kc.sh'), {
      name: `keycloak ${KEYCLOAK_VERSION}`,
      processGroup: true,
      args: [
        'start-dev',
        '--import-realm',
        '--db=dev-mem',
        '--http-host=127.0.0.1',
        `--http-port=${port}`,
        `--http-management-port=${managementPort}`,
        '--health-enabled=true',
      ],
      env: {
        ...secrets,
        // The realm's back-channel logout URL (a BFF the test starts on that port; nothing listening there otherwise).
        BFF_BACKCHANNEL_LOGOUT_URL: opts.backchannelLogoutUrl ?? 'http://127.0.0.1:9/auth/backchannel-logout',
        // By default Keycloak takes 70 % of the machine's memory.
        JAVA_OPTS_KC_HEAP: opts.heap ?? '-Xms64m -Xmx512m',
        KC_BOOTSTRAP_ADMIN_USERNAME: adminUser,
        KC_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
        KC_LOG_CONSOLE_COLOR: 'false',
      },
      timeoutMs: opts.timeoutMs ?? 480_000,
      graceMs: 20_000,
      ready: async () =>
        (await status(`http://127.0.0.1:${managementPort}/health/ready`)) === 200 && (await status(`${issuerOf(port)}/.well-known/openid-configuration`)) === 200,
    });
  // The ports are free when taken but bound only when Keycloak is up (minutes later on a busy machine): another
  // process may take one meanwhile ("Address already in use"). Then once more on other ports.
  let proc: Awaited<ReturnType<typeof spawnProcess>> | undefined;
  let port = 0;
  for (let attempt = 1; !proc; attempt++) {
    port = await freePort();
    try {
      proc = await launch(port, await freePort());
    } catch (err) {
      if (attempt >= 2 || !/Address already in use/.test(err instanceof Error ? err.message : String(err))) throw err;
    }
  }
  const url = `http://127.0.0.1:${port}`;
  const issuer = issuerOf(port);
  const rebuilt = /Quarkus augmentation completed/.test(proc.output());
  if (rebuilt) saveBuilt(join(home, 'lib', 'quarkus'), built);

  let adminToken: { token: string; until: number } | undefined;
  const token = async () => {
    if (adminToken && Date.now() < adminToken.until) return adminToken.token;
    const res = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: adminUser, password: adminPassword }),
    });
    if (res.status !== 200) throw new Error(`Keycloak admin login failed: ${res.status}`);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    adminToken = { token: body.access_token, until: Date.now() + (body.expires_in - 10) * 1000 };
    return adminToken.token;
  };
  const admin: KeycloakAdmin = {
    async call<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`${url}/admin/realms/${KEYCLOAK_REALM}${path}`, {
        method,
        headers: { authorization: `Bearer ${await token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, location: res.headers.get('location') ?? undefined };
    },
  };

  return {
    url,
    realm: KEYCLOAK_REALM,
    issuer,
    tokenEndpoint: `${issuer}/protocol/openid-connect/token`,
    jwksUri: `${issuer}/protocol/openid-connect/certs`,
    secrets,
    admin,
    process: proc,
    startup: { seconds: Math.round((Date.now() - started) / 1000), built: rebuilt },
    async stop() {
      await proc.stop({ graceMs: 20_000 });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Keeps the freshly built server for the next start (written beside, then renamed: concurrent starts never see half a copy). */
function saveBuilt(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    cpSync(from, tmp, { recursive: true });
    rmSync(to, { recursive: true, force: true });
    renameSync(tmp, to);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
}
