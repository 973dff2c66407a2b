import { startSandbox, type Sandbox } from '../../sandbox/index';
import { JWKS_CACHE_MS } from '../../src/auth/jwks-key-store';
import { startTestBff, type TestBff } from '../support/app';
import { call, PROBLEM_JSON, type Answer } from './reliability-support';

jest.setTimeout(60_000);

const EXCHANGE_TIMEOUT_MS = 800;
/** A route that exchanges the caller's token (audience demo-trino-gw). */
const EXCHANGING = '/trino/gateway/backend/all';

function expectProblem(res: Answer, status: number, reason: string): void {
  expect([res.status, res.json?.reason]).toEqual([status, reason]);
  expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
}

/**
 * Keycloak (the sandbox OIDC issuer) down, unanswering, rotating and withdrawing keys. Bounds: a token
 * exchange gives up after TOKEN_EXCHANGE_TIMEOUT_MS, a JWKS fetch after JWKS_TIMEOUT_MS (3 s) — an
 * issuer that holds its answers shows it without a clock: the BFF answers while the issuer still
 * holds the request. Warm state (verified keys, cached exchanges) keeps working; nothing ever answers 500.
 */
describe('identity provider down, slow, rotated', () => {
  let sandbox: Sandbox;
  let bff: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startTestBff({ RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
  });
  afterEach(() => sandbox.issuer.setAvailability({ down: false, slowMs: 0, held: false }));
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  it('down: warm tokens keep working, a cold exchange answers 503, then recovers', async () => {
    const warm = await bff.token('alice');
    expect((await call(bff.url, 'GET', '/auth/me', { token: warm })).status).toBe(200);
    expect((await call(bff.url, 'GET', EXCHANGING, { token: warm })).status).toBe(200);

    sandbox.issuer.setAvailability({ down: true });
    // Verified before (JWKS key cached) and exchanged before (exchange cached): no IdP call needed.
    expect((await call(bff.url, 'GET', '/auth/me', { token: warm })).status).toBe(200);
    expect((await call(bff.url, 'GET', EXCHANGING, { token: warm })).status).toBe(200);
    // A new token of a known key verifies locally, but its exchange needs the IdP.
    const cold = await bff.token('alice');
    expect((await call(bff.url, 'GET', '/auth/me', { token: cold })).status).toBe(200);
    const refused = await call(bff.url, 'GET', EXCHANGING, { token: cold });
    expectProblem(refused, 503, 'identity_provider_unavailable');

    sandbox.issuer.setAvailability({ down: false });
    expect((await call(bff.url, 'GET', EXCHANGING, { token: cold })).status).toBe(200);
  });

  it('unanswering: a cold exchange answers 503 after TOKEN_EXCHANGE_TIMEOUT_MS, not after the issuer; warm tokens are unaffected', async () => {
    // A BFF of its own with the short limit: the file's BFF keeps the default, so that its healthy exchanges do not
    // depend on the issuer answering within 800 ms on a loaded machine.
    const limited = await startTestBff({ TOKEN_EXCHANGE_TIMEOUT_MS: String(EXCHANGE_TIMEOUT_MS), RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
    try {
      const warm = await limited.token('admin');
      expect((await call(limited.url, 'GET', EXCHANGING, { token: warm })).status).toBe(200);
      const cold = await limited.token('admin');
      sandbox.issuer.setAvailability({ held: true });
      const answers = await Promise.all([
        call(limited.url, 'GET', EXCHANGING, { token: cold }),
        call(limited.url, 'GET', EXCHANGING, { token: warm }),
        call(limited.url, 'GET', '/auth/me', { token: cold }),
      ]);
      // All three answered while the issuer still holds the exchange: none of them waited for it.
      expect(sandbox.issuer.heldRequests).toBe(1);
      expectProblem(answers[0], 503, 'identity_provider_unavailable');
      expect(answers[1].status).toBe(200);
      expect(answers[2].status).toBe(200);
    } finally {
      sandbox.issuer.setAvailability({ held: false });
      await limited.close();
    }
  });

  it('an unknown kid while the issuer is down: 503 identity_provider_unavailable', async () => {
    const kid = await sandbox.issuer.rotateKeys();
    const token = await bff.token('alice', { kid });
    sandbox.issuer.setAvailability({ down: true });
    const res = await call(bff.url, 'GET', '/auth/me', { token });
    // The key cannot be looked up: the identity provider failed, not the token (never a 401 the client would act on).
    expectProblem(res, 503, 'identity_provider_unavailable');
  });

  it('an unknown kid while the issuer does not answer: answered after the JWKS timeout (3 s), not after the issuer', async () => {
    const kid = await sandbox.issuer.rotateKeys();
    const token = await bff.token('alice', { kid });
    sandbox.issuer.setAvailability({ held: true });
    const res = await call(bff.url, 'GET', '/auth/me', { token });
    expect(sandbox.issuer.heldRequests).toBe(1);
    expectProblem(res, 503, 'identity_provider_unavailable');
  });

  it('rotation: a token of the new key is accepted without a restart, tokens of the old key too while it is published', async () => {
    const old = sandbox.issuer.currentKid;
    const oldToken = await bff.token('alice', { kid: old });
    expect((await call(bff.url, 'GET', '/auth/me', { token: oldToken })).status).toBe(200);
    const kid = await sandbox.issuer.rotateKeys();
    const fresh = await bff.token('alice', { kid });
    const res = await call(bff.url, 'GET', '/auth/me', { token: fresh });
    expect([res.status, res.json?.username]).toEqual([200, 'alice']);
    expect((await call(bff.url, 'GET', '/auth/me', { token: await bff.token('alice', { kid: old }) })).status).toBe(200);
  });

  /**
   * Bound of a withdrawal (documented): a key removed from the JWKS stops working at the latest
   * JWKS_CACHE_MS (5 min) after the BFF last fetched it; a JWKS refetch before that (an unknown kid
   * arriving, e.g. the next rotation) should make it stop at once.
   */
  async function withdrawAndRefetch(): Promise<{ doomed: string; verifiedBefore: string }> {
    const doomed = await sandbox.issuer.rotateKeys();
    const verifiedBefore = await bff.token('alice', { kid: doomed });
    expect((await call(bff.url, 'GET', '/auth/me', { token: verifiedBefore })).status).toBe(200);
    sandbox.issuer.withdrawKey(doomed);
    const next = await sandbox.issuer.rotateKeys();
    // The refetch trigger: a token signed by a kid the BFF has not seen.
    expect((await call(bff.url, 'GET', '/auth/me', { token: await bff.token('alice', { kid: next }) })).status).toBe(200);
    return { doomed, verifiedBefore };
  }

  // Was a finding (fixed): jwks-rsa keeps the withdrawn kid's key in its per-kid cache for
  // JWKS_CACHE_MS after the refetch; dropWithdrawn() empties the verified-token cache, but re-verification
  // gets the withdrawn key from that per-kid cache. So tokens of a withdrawn key — verified before or never
  // seen — are accepted (200) for up to 5 min despite the refetch. Fix in src/auth/jwks-key-store.ts
  // publicKey(): refuse a kid the last successful fetch did not list (this.knownKids), see the report.
  it(`withdrawal: after a refetch, tokens of the withdrawn key are refused (bound without a refetch: ${JWKS_CACHE_MS / 60000} min)`, async () => {
    const { doomed, verifiedBefore } = await withdrawAndRefetch();
    const unseen = await bff.token('alice', { kid: doomed });
    const statuses: number[] = [];
    for (const token of [verifiedBefore, unseen]) statuses.push((await call(bff.url, 'GET', '/auth/me', { token })).status);
    expect(statuses).toEqual([401, 401]);
  });
});
