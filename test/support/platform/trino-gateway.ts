import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jsYaml from 'js-yaml';
import { parseYaml, readDocker, type Json } from '../../deploy/deploy-files';
import { freePort } from '../net';
import { spawnProcess, type ManagedProcess } from '../processes';
import { platformCache } from './cache';
import { startPostgres, type Postgres } from './postgres';
import { GATEWAY_VERSION, TRINO_VERSION } from './versions';

/**
 * The real Trino Gateway (`io.trino.gateway:gateway-ha`, the jar scripts/fetch-trino.sh fetched, the
 * version docker/compose.yaml pins) on a PostgreSQL of its own, started with docker/trino-gateway's
 * shipped config.yaml: read and rewritten only where a loopback test must differ (ports, paths,
 * Keycloak's address, the database's address); every key rewritten must exist in the shipped file, so
 * the test never invents configuration. Its `${ENV:…}` secrets come from the environment, as in compose.
 * TLS material and the form key pair come from the shipped init script (the caller runs it into `tlsDir`).
 */
export const GATEWAY_JAR = join(platformCache(), `trino-${TRINO_VERSION}`, 'gateway-ha.jar');
export const GATEWAY_JAVA_HOME = process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';
/** The shipped config's break-glass account (presetUsers). */
export const BREAK_GLASS_USER = 'bff-break-glass';

export function gatewayAvailable(): boolean {
  return existsSync(GATEWAY_JAR) && existsSync(join(GATEWAY_JAVA_HOME, 'bin', 'java'));
}

export interface RealGatewayOptions {
  /** The realm the shipped oauth section points at (Keycloak's issuer, e.g. http://127.0.0.1:PORT/realms/platform). */
  issuer: string;
  /** The secret of the gateway's own client (realm.json's TRINO_GW_CLIENT_SECRET). */
  clientSecret: string;
  /** Where docker/init/init.sh wrote its output (INIT_OUT_DIR): trino-gateway/*.pem, gateway-rules/. */
  tlsDir: string;
  /** Extra serverConfig entries (Airlift properties), e.g. the router's trust store. */
  serverConfig?: Record<string, string>;
}

export interface RealGateway {
  /** https://localhost:PORT (the certificate's SAN). */
  readonly url: string;
  readonly version: string;
  /** TRINO_GATEWAY_BASIC_AUTH for the shipped presetUsers entry. */
  readonly basicAuth: string;
  readonly process: ManagedProcess;
  readonly postgres: Postgres;
  /** Milliseconds from spawn to the first answer of its HTTPS port. */
  readonly startMs: number;
  stop(): Promise<void>;
}

/** Sets `value` at `path` of the shipped config, which must already have it. */
function rewrite(config: Json, path: string[], value: unknown): void {
  let node = config;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) throw new Error(`docker/trino-gateway/config.yaml has no ${path.join('.')}`);
    node = node[key];
  }
  const last = path.at(-1)!;
  if (!(last in node)) throw new Error(`docker/trino-gateway/config.yaml has no ${path.join('.')}`);
  node[last] = value;
}

export async function startRealGateway(opts: RealGatewayOptions): Promise<RealGateway> {
  if (!gatewayAvailable()) throw new Error(`Trino Gateway ${GATEWAY_VERSION} is not in ${GATEWAY_JAR} (or no JDK 25): run scripts/fetch-trino.sh`);
  const shipped = parseYaml(readDocker('trino-gateway', 'config.yaml'), 'trino-gateway/config.yaml') as Json;
  const db = new URL(String(shipped.dataStore.jdbcUrl).replace(/^jdbc:/, ''));
  const dbPassword = randomBytes(12).toString('hex');
  const breakGlassPassword = randomBytes(12).toString('hex');
  const postgres = await startPostgres({ database: db.pathname.slice(1), user: shipped.dataStore.user, password: dbPassword });
  const dir = mkdtempSync(join(tmpdir(), 'platform-gateway-'));
  try {
    const port = await freePort();
    const url = `https://localhost:${port}`;
    const oidc = `${opts.issuer}/protocol/openid-connect`;
    const gw = join(opts.tlsDir, 'trino-gateway');
    const config = structuredClone(shipped);
    rewrite(config, ['serverConfig', 'http-server.https.port'], port);
    rewrite(config, ['serverConfig', 'http-server.https.keystore.path'], join(gw, 'trino-gateway.pem'));
    Object.assign(config.serverConfig, opts.serverConfig);
    rewrite(config, ['dataStore', 'jdbcUrl'], postgres.jdbcUrl);
    rewrite(config, ['routingRules', 'rulesConfigPath'], join(opts.tlsDir, 'gateway-rules', 'routing-rules.yaml'));
    rewrite(config, ['authentication', 'oauth', 'issuer'], opts.issuer);
    rewrite(config, ['authentication', 'oauth', 'tokenEndpoint'], `${oidc}/token`);
    rewrite(config, ['authentication', 'oauth', 'authorizationEndpoint'], `${oidc}/auth`);
    rewrite(config, ['authentication', 'oauth', 'jwkEndpoint'], `${oidc}/certs`);
    rewrite(config, ['authentication', 'oauth', 'redirectUrl'], `${url}/oidc/callback`);
    rewrite(config, ['authentication', 'form', 'selfSignKeyPair', 'privateKeyRsa'], join(gw, 'form-private.pem'));
    rewrite(config, ['authentication', 'form', 'selfSignKeyPair', 'publicKeyRsa'], join(gw, 'form-public.pem'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, jsYaml.dump(config, { lineWidth: -1 }));

    const started = Date.now();
    const proc = await spawnProcess(join(GATEWAY_JAVA_HOME, 'bin', 'java'), {
      name: `trino-gateway ${GATEWAY_VERSION}`,
      args: ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', GATEWAY_JAR, configFile],
      cwd: dir,
      env: { TRINO_GW_DB_PASSWORD: dbPassword, TRINO_GW_CLIENT_SECRET: opts.clientSecret, TRINO_GW_BREAK_GLASS_PASSWORD: breakGlassPassword },
      readyLine: /======== SERVER STARTED ========/,
      timeoutMs: 240_000,
      graceMs: 15_000,
    });
    return {
      url,
      version: GATEWAY_VERSION,
      basicAuth: `${BREAK_GLASS_USER}:${breakGlassPassword}`,
      process: proc,
      postgres,
      startMs: Date.now() - started,
      async stop() {
        await proc.stop({ graceMs: 15_000 });
        await postgres.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
