import { AuthController } from '../../src/auth/auth.controller';
import { RouteAudience } from '../../src/auth/decorators';
import { RouteInventory } from '../../src/auth/route-inventory';
import { decodePart } from '../support/jwt';
import { startTestBff, type TestBff } from '../support/app';

/**
 * @Audience on a hot route: the fast path (src/auth/hot-routes.ts) must decide from the same route
 * metadata as the guard. GET /auth/me is given @Audience('x') in this file only (its metadata is
 * overridden before the app starts; jest gives every test file its own modules), as a route that
 * declared it would have it.
 */
describe('hot routes: the fast path honours @Audience as the guard does', () => {
  let bff: TestBff;

  beforeAll(async () => {
    Reflect.defineMetadata(RouteAudience.KEY, 'x', AuthController.prototype.me);
    bff = await startTestBff();
  });
  afterAll(() => bff?.close());

  const me = (token: string) => fetch(`${bff.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });

  it('a token without the audience is 403 audience_mismatch on the 1st, 2nd and 3rd request', async () => {
    const token = await bff.token('alice');
    for (const attempt of [1, 2, 3]) {
      const res = await me(token);
      expect([attempt, res.status, res.headers.get('content-type')]).toEqual([attempt, 403, expect.stringMatching(/^application\/problem\+json/)]);
      expect(((await res.json()) as { reason: string }).reason).toBe('audience_mismatch');
    }
  });

  it('a token that carries the audience is 200 on every request', async () => {
    const alice = await bff.token('alice');
    const aud = decodePart(alice, 1).aud as string | string[];
    const token = await bff.token('alice', { claims: { aud: [...(Array.isArray(aud) ? aud : [aud]), 'x'] } });
    for (const attempt of [1, 2, 3]) {
      const res = await me(token);
      expect([attempt, res.status]).toEqual([attempt, 200]);
      expect(((await res.json()) as { username: string }).username).toBe('alice');
    }
  });

  it('the route inventory shows the audience the guard and the fast path apply (one resolver for all three)', () => {
    const route = bff.app
      .get(RouteInventory)
      .routes()
      .find((r) => r.path === '/auth/me');
    expect(route).toMatchObject({ method: 'GET', policy: 'authenticated', audience: 'x' });
  });
});
