import { TokenVerifier } from '../../src/auth/token-verifier.service';
import { startTestBff, type TestBff } from '../support/app';

/**
 * The verified-token cache holds what is useful: a token verified more than a minute ago must be
 * verified again anyway, so such entries are dropped as new tokens arrive. A BFF seeing a steady
 * stream of fresh tokens (users refreshing) keeps about a minute of them, not the last 20,000 —
 * the 10-minute soak grew by the cache's fill rate before this.
 */
describe('verified-token cache', () => {
  let bff: TestBff;
  afterAll(() => bff?.close());

  it('drops entries past the re-verification age when new tokens are verified, and still answers them', async () => {
    bff = await startTestBff();
    const verifier = bff.app.get(TokenVerifier);
    const me = (t: string) => fetch(`${bff.url}/auth/me`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status);
    const old = await Promise.all(Array.from({ length: 5 }, (_, i) => bff.token('alice', { claims: { jti: `old-${i}` } })));
    for (const t of old) expect(await me(t)).toBe(200);
    const before = verifier.cachedTokens;
    expect(before).toBeGreaterThanOrEqual(5);

    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 61_000);
    try {
      const fresh = await bff.token('admin', { claims: { jti: 'fresh' } });
      expect(await me(fresh)).toBe(200);
      expect(verifier.cachedTokens).toBe(1);
      // A dropped token is simply verified again.
      expect(await me(old[0])).toBe(200);
      expect(verifier.cachedTokens).toBe(2);
    } finally {
      clock.mockRestore();
    }
  });
});
