import { readFileSync } from 'node:fs';
import { Trino } from 'trino-client';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTrinoCoordinator, type TrinoCoordinator, type TrinoCoordinatorAuth } from '../../sandbox/trino-coordinator';
import { shippedTrinoPrincipalField } from '../deploy/deploy-files';
import { startTestBff, type TestBff } from '../support/app';
import { testTls } from '../support/test-tls';
import { trinoScenarios, type TrinoTarget } from './trino-scenarios';

/**
 * The Trino scenarios of trino-real.spec.ts against the sandbox's Trino emulator, in the same three
 * TRINO_AUTH modes: sandbox mode stays a faithful stand-in only while both files pass.
 */
jest.setTimeout(60_000);

const PASSWORD = 'emulated-service-password';

const MODES: Array<{ mode: 'none' | 'exchange' | 'basic'; auth: (s: Sandbox) => TrinoCoordinatorAuth; env: Record<string, string> }> = [
  { mode: 'none', auth: () => ({ mode: 'none' }), env: { TRINO_AUTH: 'none' } },
  {
    mode: 'exchange',
    auth: (s) => ({
      mode: 'jwt',
      verify: { issuer: s.issuer.issuer, jwksUri: s.issuer.jwksUri, audience: 'demo-trino' },
      principalClaim: shippedTrinoPrincipalField(),
    }),
    env: { TRINO_AUTH: 'exchange', TRINO_AUDIENCE: 'trino' },
  },
  {
    mode: 'basic',
    auth: () => ({ mode: 'basic', users: { 'svc-bff': PASSWORD }, impersonators: ['svc-bff'] }),
    env: { TRINO_AUTH: 'basic', TRINO_BASIC_AUTH: `svc-bff:${PASSWORD}` },
  },
];

describe('the Trino scenarios against the sandbox Trino emulator', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox?.close());

  for (const { mode, auth, env } of MODES) {
    describe(`TRINO_AUTH=${mode}`, () => {
      let coordinator: TrinoCoordinator;
      let bff: TestBff;
      // As the real tier: exchange and basic over HTTPS (Trino authenticates only there), none on the plain listener.
      const tls = mode === 'none' ? undefined : testTls();
      beforeAll(async () => {
        coordinator = await startTrinoCoordinator({ auth: auth(sandbox), tls });
        bff = await startTestBff({ TRINO_URL: coordinator.url, ...(tls ? { TRINO_CA_FILE: tls.caFile } : {}), ...env }, { sandbox });
      });
      afterAll(async () => {
        await bff?.close();
        await coordinator?.close();
      });

      const directHeaders = async (user: string): Promise<Record<string, string>> => {
        if (mode === 'basic') return { 'X-Trino-User': user, Authorization: `Basic ${Buffer.from(`svc-bff:${PASSWORD}`).toString('base64')}` };
        if (mode === 'exchange') return { Authorization: `Bearer ${await sandbox.issuer.issueToken({ user, claims: { aud: 'demo-trino' } })}` };
        return { 'X-Trino-User': user };
      };
      let directFor: Record<string, Record<string, string>> = {};
      beforeAll(async () => {
        directFor = { alice: await directHeaders('alice') };
      });

      const target: TrinoTarget = {
        bff: () => bff,
        direct: (user) =>
          Trino.create({ server: coordinator.url, extraHeaders: directFor[user], ...(tls ? { ssl: { ca: readFileSync(tls.caFile, 'utf8') } } : {}) }),
        internalHosts: () => [new URL(coordinator.url).host],
        requestsDuring: async (action) => {
          const last = coordinator.requests.at(-1);
          await action();
          return coordinator.requests.slice(coordinator.requests.lastIndexOf(last!) + 1).map((r) => `${r.method} ${r.path}`);
        },
      };
      trinoScenarios(target);
    });
  }
});
