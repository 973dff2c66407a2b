import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { startTrinoGateway, type TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import { hashBreakGlassPassword } from '../../src/trino-gateway-admin/break-glass/password-hash';
import { dockerPath, parseYamlAll, readDocker, yamlFile, type Json } from '../deploy/deploy-files';
import { startTestBff, type TestBff } from '../support/app';
import { fileSetUp } from '../support/file-set-up';
import { freePort } from '../support/net';
import { BREAK_GLASS_USER, gatewayAvailable, startRealGateway, type RealGateway } from '../support/platform/trino-gateway';
import { GATEWAY_VERSION } from '../support/platform/versions';
import { BREAK_GLASS_LOGIN, gatewayScenarios, type GatewayTarget } from './gateway-scenarios';
import { keycloakTarget, sandboxTarget, type IdpTarget } from './idp-targets';
import { passwordLogin } from './keycloak-scenarios';

/**
 * The Trino Gateway scenarios (gateway-scenarios.ts) against the sandbox's gateway emulator with the
 * sandbox issuer, and against the real Trino Gateway (scripts/fetch-trino.sh) on a PostgreSQL of its own,
 * with docker/trino-gateway's shipped config, behind a real Keycloak with docker/keycloak/realm.json.
 * The emulator is configured from the same shipped file (privileges claim, authorization patterns, the
 * break-glass account), so that a difference in behaviour is the emulator's, not the configuration's.
 */
jest.setTimeout(60_000);
const STARTUP_MS = 600_000;

// Never skipped: `npm test` and `npm run test:platform` fetch the gateway first; a missing install fails the suite.
if (!gatewayAvailable()) throw new Error(`Trino Gateway ${GATEWAY_VERSION} is not in the cache: run scripts/fetch-trino.sh`);

const WORKSPACE = 'demo';
const shippedConfig = () => yamlFile('trino-gateway', 'config.yaml');
/** docker/trino-gateway/routing-rules.yaml as the gateway answers it (absent fields filled). */
const shippedRules = (): Json[] =>
  (parseYamlAll(readDocker('trino-gateway', 'routing-rules.yaml')) as Json[]).map((r) => ({
    name: r.name,
    description: r.description ?? '',
    priority: r.priority ?? 0,
    actions: r.actions ?? [],
    condition: r.condition,
  }));

/** A loopback URL nothing listens on: the break-glass BFF's "unreachable Keycloak". */
async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

function gatewayBlock(name: string, start: () => Promise<{ idp: IdpTarget; gatewayUrl: string; basicAuth: string; stop: () => Promise<void> }>) {
  describe(name, () => {
    let idp: IdpTarget;
    let stopGateway: () => Promise<void>;
    let bff: TestBff;
    let breakGlass: TestBff;
    const setUp = fileSetUp();

    beforeAll(
      () =>
        setUp.run(async () => {
          const started = await start();
          idp = started.idp;
          stopGateway = started.stop;
          const env = { ...idp.env, WORKSPACE_ID: WORKSPACE, TRINO_GATEWAY_URL: started.gatewayUrl };
          bff = await startTestBff(env, { sandbox: idp.sandbox });
          breakGlass = await startTestBff(
            {
              ...env,
              KEYCLOAK_URL: await deadUrl(),
              TRINO_GATEWAY_BASIC_AUTH: started.basicAuth,
              BREAK_GLASS_USERS: `${BREAK_GLASS_LOGIN.user}:${await hashBreakGlassPassword(BREAK_GLASS_LOGIN.password)}`,
            },
            { sandbox: idp.sandbox },
          );
        }),
      STARTUP_MS,
    );
    afterAll(async () => {
      await setUp.settled();
      await breakGlass?.close();
      await bff?.close();
      await stopGateway?.();
      await idp?.stop();
    }, STARTUP_MS + 60_000);

    const target: GatewayTarget = {
      bff: () => bff,
      breakGlassBff: () => breakGlass,
      token: async (user) => {
        const login = await passwordLogin(idp, user);
        if (login.status !== 200) throw new Error(`password login of ${user}: ${login.status} ${JSON.stringify(login.body)}`);
        return login.body.access_token as string;
      },
      shippedRules,
    };
    gatewayScenarios(target);
  });
}

gatewayBlock('Trino Gateway scenarios against the sandbox emulator (configured from the shipped config.yaml)', async () => {
  const idp = await sandboxTarget(WORKSPACE);
  const config = shippedConfig();
  const password = 'emulated-break-glass-password';
  const gateway: TrinoGatewayEmulator = await startTrinoGateway({
    verify: { issuer: idp.issuer, jwksUri: idp.jwksUri, audience: config.authentication.oauth.audiences[0] },
    privilegesField: config.authentication.oauth.privilegesField,
    authorization: config.authorization,
    basicUsers: { [BREAK_GLASS_USER]: { password, privileges: config.presetUsers[BREAK_GLASS_USER].privileges } },
    backends: [],
    routingRules: shippedRules() as never,
  });
  return { idp, gatewayUrl: gateway.url, basicAuth: `${BREAK_GLASS_USER}:${password}`, stop: () => gateway.close() };
});

gatewayBlock(`Trino Gateway scenarios against the real Trino Gateway ${GATEWAY_VERSION} and a real Keycloak`, async () => {
  const idp = await keycloakTarget(WORKSPACE);
  const keycloak = (idp as IdpTarget & { keycloak: { secrets: Record<string, string> } }).keycloak;
  // TLS material, the form key pair and the writable routing rules from the shipped init script.
  const tlsDir = mkdtempSync(join(tmpdir(), 'platform-gateway-tls-'));
  for (const d of ['ca', 'trino', 'trino-gateway', 'gateway-rules', 'state']) mkdirSync(join(tlsDir, d), { recursive: true });
  execFileSync('sh', [dockerPath('init/init.sh')], {
    env: { ...process.env, INIT_STATE_DIR: join(tlsDir, 'state'), INIT_OUT_DIR: tlsDir, INIT_SEED_DIR: dockerPath('trino-gateway'), TRINO_BFF_PASSWORD: 'unused' },
    stdio: 'ignore',
  });
  // The BFF trusts the init script's CA as compose gives it NODE_EXTRA_CA_CERTS.
  const defaults = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...defaults, readFileSync(join(tlsDir, 'ca', 'ca.pem'), 'utf8')]);
  let gateway: RealGateway;
  try {
    gateway = await startRealGateway({ issuer: idp.issuer, clientSecret: keycloak.secrets.TRINO_GW_CLIENT_SECRET, tlsDir });
  } catch (err) {
    await idp.stop();
    throw err;
  }
  process.stderr.write(`[platform] real Trino Gateway ${GATEWAY_VERSION} ready in ${gateway.startMs} ms (pid ${gateway.process.pid})\n`);
  return {
    idp,
    gatewayUrl: gateway.url,
    basicAuth: gateway.basicAuth,
    stop: async () => {
      await gateway.stop();
      tls.setDefaultCACertificates(defaults);
      rmSync(tlsDir, { recursive: true, force: true });
    },
  };
});
