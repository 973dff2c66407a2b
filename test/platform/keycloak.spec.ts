import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { startMlAgent, type MlAgentEmulator } from '../../sandbox/ml-agent';
import { startTrinoCoordinator, type TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { startTrinoGateway, type TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import { StateStore } from '../../src/state/state-store';
import { shippedTrinoPrincipalField } from '../deploy/deploy-files';
import { startTestBff, type TestBff } from '../support/app';
import { fileSetUp } from '../support/file-set-up';
import { waitUntil } from '../support/net';
import { testTls } from '../support/test-tls';
import { startRedis, type RedisServer } from '../support/redis';
import { keycloakTarget, sandboxTarget, type IdpTarget } from './idp-targets';
import { KEYCLOAK_SCENARIOS, type ScenarioWorld } from './keycloak-scenarios';
import { REVOCATION_SCENARIOS } from './revocation-scenarios';

/**
 * The Keycloak scenarios (keycloak-scenarios.ts) against both identity providers: the sandbox issuer
 * and a real Keycloak started from the cached dist with docker/keycloak/realm.json as shipped. The same
 * scenario functions run in both blocks; a difference between the emulator and Keycloak is a failure.
 * Each block runs two BFF replicas (in-process) sharing one Valkey (redis-server) and one session secret.
 */
const STARTUP_MS = 540_000;

function scenarioBlock(name: string, start: () => Promise<IdpTarget>) {
  describe(name, () => {
    let target: IdpTarget;
    let redis: RedisServer;
    const replicas: TestBff[] = [];
    const world = {} as ScenarioWorld;
    let gateway: TrinoGatewayEmulator;
    let mlAgent: MlAgentEmulator;
    let trino: TrinoCoordinator;
    let trinoForAgent: TrinoCoordinator;
    const setUp = fileSetUp();

    beforeAll(
      () =>
        setUp.run(async () => {
          redis = await startRedis();
          target = await start();
          // The downstreams verify the tokens the BFF exchanged against the target's JWKS, each for its own audience.
          const verify = (a: string) => ({ issuer: target.issuer, jwksUri: target.jwksUri, audience: `${target.workspaceId}-${a}` });
          gateway = await startTrinoGateway({ verify: verify('trino-gw') });
          trinoForAgent = await startTrinoCoordinator();
          mlAgent = await startMlAgent({ verify: verify('ml-agent'), trinoUrl: trinoForAgent.url });
          // Trino authenticates only over HTTPS (and the BFF boots with TRINO_AUTH=exchange only on an https TRINO_URL).
          const tls = testTls();
          trino = await startTrinoCoordinator({ tls, auth: { mode: 'jwt', verify: verify('trino'), principalClaim: shippedTrinoPrincipalField() } });
          const shared = {
            ...target.env,
            TRINO_GATEWAY_URL: gateway.url,
            ML_AGENT_URL: mlAgent.url,
            TRINO_URL: trino.url,
            TRINO_CA_FILE: tls.caFile,
            TRINO_AUTH: 'exchange',
            VALKEY_URL: redis.url,
            BFF_SESSION_SECRET: randomBytes(32).toString('base64url'),
          };
          // Replica A on the port the realm's back-channel logout URL names; B hears of logouts through Valkey only.
          replicas.push(await startTestBff(shared, { sandbox: target.sandbox, port: target.backchannelPort }));
          replicas.push(await startTestBff(shared, { sandbox: target.sandbox }));
          for (const r of replicas) await waitUntil(() => r.app.get(StateStore).shared, { what: 'the replica to reach Valkey' });
          // The operator registers each replica's callback with the browser login client.
          for (const r of replicas) await target.allowLoginRedirect(`${r.url}/auth/callback`);
          const audiences = (headers: Array<string | string[] | undefined>) => [
            ...new Set(
              headers
                .map((h) => (Array.isArray(h) ? h[0] : h))
                .filter((h): h is string => typeof h === 'string' && h.startsWith('Bearer '))
                .map((h) => String(decodeJwt(h.slice(7)).aud)),
            ),
          ];
          const downstream = {
            audiencesSeen: () => ({
              gateway: audiences(gateway.authorizationHeaders),
              mlAgent: audiences(mlAgent.requests.map((r) => r.headers.authorization)),
              trino: audiences(trino.requests.map((r) => r.headers.authorization)),
            }),
            trinoRequests: () => trino.requests,
          };
          const valkey = {
            storedSessions: async () =>
              Number(
                (
                  await redis.command(
                    'EVAL',
                    "local n = 0 for _, k in ipairs(redis.call('KEYS', 'session:*')) do if #k == 72 and k:match('^session:%x+$') then n = n + 1 end end return n",
                    '0',
                  )
                ).slice(1),
              ),
          };
          Object.assign(world, { target, bff: replicas[0], bffB: replicas[1], downstream, valkey });
        }),
      STARTUP_MS,
    );

    afterAll(async () => {
      await setUp.settled();
      for (const r of replicas) await r.close();
      for (const server of [gateway, mlAgent, trino, trinoForAgent]) await server?.close();
      await target?.stop();
      await redis?.stop();
    }, STARTUP_MS + 60_000);

    for (const scenario of [...KEYCLOAK_SCENARIOS, ...REVOCATION_SCENARIOS]) {
      it(scenario.name, () => scenario.run(world), 60_000);
    }
  });
}

scenarioBlock('Keycloak scenarios against the sandbox issuer', () => sandboxTarget());

// The dist is fetched by scripts/fetch-platform.sh (npm test and npm run test:platform run it first); without it, startKeycloak fails saying so.
scenarioBlock('Keycloak scenarios against a real Keycloak', () => keycloakTarget());
