import type { AccessDecider } from '../auth/access-decider.service';
import type { Revocations } from '../auth/revocation.service';
import { MetricsService } from '../common/metrics.service';
import { problem } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { LoginRejected, type LoginTokens, type OidcLoginClient } from './oidc-login.client';
import { SessionService } from './session.service';

/**
 * One refresh per browser session across replicas (the realm rotates refresh tokens strictly): two
 * SessionServices on one StateStore stand for two replicas on one Valkey (each has its own in-process
 * de-duplication, so only the lease keeps them apart).
 */
const config = { session: { secret: 'a-test-session-secret-of-32-chars!!', login: { pendingMax: 100, pendingPerClient: 100 } } } as unknown as AppConfig;
/** The access token's lifetime: its refresh margin is half of it (a minute), the time each test has once in it. */
const LIFETIME_S = 120;

/** An identity provider that rotates refresh tokens strictly: a refresh token used twice is refused. */
function fakeIdp() {
  const used = new Set<string>();
  const idp = {
    refreshes: 0,
    state: 'up' as 'up' | 'down' | 'session-ended',
    login: {
      authorizationUrl: async () => 'https://idp.test/auth',
      exchangeCode: async (): Promise<LoginTokens> => ({ accessToken: 'access-0', refreshToken: 'refresh-0', expiresInS: LIFETIME_S }),
      refresh: async (refreshToken: string): Promise<LoginTokens> => {
        idp.refreshes++;
        await new Promise((r) => setTimeout(r, 20)); // the network
        if (idp.state === 'down') throw problem.unavailable('identity_provider_unavailable', 'down');
        if (idp.state === 'session-ended' || used.has(refreshToken)) throw new LoginRejected('invalid_grant');
        used.add(refreshToken);
        return { accessToken: `access-${used.size}`, refreshToken: `refresh-${used.size}`, expiresInS: 300 };
      },
    } as unknown as OidcLoginClient,
  };
  return idp;
}

async function twoReplicas() {
  const store = new StateStore(config, new ValkeyClient(config, new ReadinessRegistry()));
  const idp = fakeIdp();
  const decider = { decide: async () => ({ allow: true, principal: { subject: 'sub-alice', username: 'alice', issuer: 'https://idp.test', claims: {} } }) };
  const revocations = { listen: () => undefined } as unknown as Revocations;
  const replica = () => new SessionService(config, store, idp.login, decider as unknown as AccessDecider, new MetricsService(), revocations);
  const [a, b] = [replica(), replica()];
  const { state } = await a.beginLogin('/mlflow/', 'https://bff.test/auth/callback', '127.0.0.1');
  const { sessionId } = await a.completeLogin(`code=c&state=${state}`, state);
  return { a, b, idp, sessionId };
}

/**
 * Into the refresh margin (half of the token's lifetime), a second past its start, by moving the replicas' clock (they
 * run in this process): the token then stays valid for most of a minute, whatever the load (the test that keeps it
 * while the identity provider is unreachable needs both replicas' turns to come before it expires).
 */
const intoMargin = () => {
  const realNow = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + (LIFETIME_S / 2) * 1000 + 1000);
};
afterEach(() => jest.restoreAllMocks());

describe('SessionService: one refresh per session across replicas', () => {
  it('two replicas needing a refresh at once: one refresh reaches the identity provider, both use its new token', async () => {
    const { a, b, idp, sessionId } = await twoReplicas();
    expect(await a.access(sessionId)).toEqual({ accessToken: 'access-0' });
    intoMargin();
    const all = await Promise.all([a.access(sessionId), b.access(sessionId), b.access(sessionId)]);
    expect(all).toEqual([{ accessToken: 'access-1' }, { accessToken: 'access-1' }, { accessToken: 'access-1' }]);
    expect(idp.refreshes).toBe(1);
    expect(await b.access(sessionId)).toEqual({ accessToken: 'access-1' });
  });

  it('a refused refresh ends the session on both replicas (no second refresh with the same token)', async () => {
    const { a, b, idp, sessionId } = await twoReplicas();
    intoMargin();
    idp.state = 'session-ended';
    expect(await Promise.all([a.access(sessionId), b.access(sessionId)])).toEqual([undefined, undefined]);
    expect(idp.refreshes).toBe(1);
    expect(await b.access(sessionId)).toBeUndefined();
  });

  it('the identity provider unreachable: the lease is released, the other replica tries in turn, both keep the valid token', async () => {
    const { a, b, idp, sessionId } = await twoReplicas();
    intoMargin();
    idp.state = 'down';
    expect(await Promise.all([a.access(sessionId), b.access(sessionId)])).toEqual([{ accessToken: 'access-0' }, { accessToken: 'access-0' }]);
    expect(idp.refreshes).toBe(2);
    // Back up: the next call refreshes with the token the session still holds.
    idp.state = 'up';
    expect(await a.access(sessionId)).toEqual({ accessToken: 'access-1' });
  });
});
