import { decodeJwt } from 'jose';
import { AccessDecider } from '../../src/auth/access-decider.service';
import { startTestBff, type TestBff } from '../support/app';

/**
 * The hot routes' fast path (src/auth/hot-routes.ts): a repeated request with an already verified
 * token is answered before Nest's pipeline. Whatever path a request takes, the client must get the
 * same answer, denials must still be decided and logged once, and nothing the fast path cannot see
 * (a body token, an expired token, a role the route table demands) may slip through.
 */
describe('hot routes: the fast path answers exactly as the routes do', () => {
  let bff: TestBff;
  let decide: jest.SpyInstance;
  const ORIGIN = 'https://app.example.test';

  beforeAll(async () => {
    bff = await startTestBff({ AUTH_CLOCK_SKEW_S: '0', CORS_ORIGINS: ORIGIN });
    decide = jest.spyOn(bff.app.get(AccessDecider), 'decide');
  });
  afterAll(() => bff.close());
  beforeEach(() => decide.mockClear());

  const call = (path: string, token?: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(bff.url + path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers } });

  /** bff_auth_failures_total for a reason: every decided denial counts once (and logs one auth.decision line beside it). */
  async function refusals(reason: string): Promise<number> {
    const text = await (await fetch(`${bff.url}/metrics`)).text();
    const m = new RegExp(`^bff_auth_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  }

  /** Status, body and every header but the per-response ones. */
  async function answer(res: Response) {
    const headers = Object.fromEntries([...res.headers].filter(([k]) => !['date', 'x-request-id'].includes(k)));
    return { status: res.status, headers, body: await res.text() };
  }

  it.each([
    ['GET', '/auth/me'],
    ['GET', '/api/validate/v1/statement'],
    ['POST', '/api/validate/v1/statement?x=1'],
    ['GET', '/api/auth'],
    ['GET', '/api/auth/api/agents'],
  ])('%s %s: the first answer (the Nest route) and the repeated one (the fast path) are identical', async (method, path) => {
    const token = await bff.token('alice');
    const first = await answer(await call(path, token, { method }));
    expect(decide).toHaveBeenCalledTimes(1);
    const again = await answer(await call(path, token, { method }));
    const third = await answer(await call(path, token, { method }));
    expect(decide).toHaveBeenCalledTimes(1); // repeated requests never reached the route
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    expect(third).toEqual(first);
    expect(first.headers['x-content-type-options']).toBe('nosniff');
  });

  it('the fast path keeps CORS: an allowed Origin gets its allow headers, on both paths', async () => {
    const token = await bff.token('alice');
    for (let i = 0; i < 2; i++) {
      const res = await call('/auth/me', token, { headers: { origin: ORIGIN } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    }
  });

  it('a denial is never answered early: each one reaches the route and is counted (and logged) once', async () => {
    const viewer = await bff.token('viewer');
    expect((await call('/auth/me', viewer)).status).toBe(200); // viewer's token is now verified and cached
    decide.mockClear();
    const before = await refusals('insufficient_role');
    for (let i = 0; i < 3; i++) {
      const res = await call('/api/auth/api/agents', viewer);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { reason: string }).reason).toBe('insufficient_role');
    }
    expect(decide).toHaveBeenCalledTimes(3);
    expect((await refusals('insufficient_role')) - before).toBe(3);
  });

  it('a cached token that expires is refused (401 token_expired), not served from the cache', async () => {
    // exp is whole seconds, so `expiresInS: 2` left 1 to 2 s, which the two calls below can outlast on a loaded machine.
    // 20 s: and the clock moved past exp below stays within the cache's re-verification age (a minute), so the
    // refusal must come from the cached entry's own expiry check, not from a re-verification.
    const token = await bff.token('alice', { expiresInS: 20 });
    expect((await call('/auth/me', token)).status).toBe(200);
    expect((await call('/auth/me', token)).status).toBe(200);
    // The BFF runs in this process: move its clock past the token's exp (skew 0) instead of sleeping.
    const { exp } = decodeJwt(token);
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => Math.max(realNow(), exp! * 1000 + 1000));
    try {
      for (const path of ['/auth/me', '/api/validate/v1/statement', '/api/auth']) {
        const res = await call(path, token);
        expect(res.status).toBe(401);
        expect(((await res.json()) as { reason: string }).reason).toBe('token_expired');
      }
    } finally {
      clock.mockRestore();
    }
  });

  it('/api/auth: a body token that differs from a cached header token is still 400 ambiguous_token', async () => {
    const [alice, other] = await Promise.all([bff.token('alice'), bff.token('alice')]);
    expect((await call('/api/auth', alice)).status).toBe(200);
    const res = await call('/api/auth', alice, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: other }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toBe('ambiguous_token');
    const same = await call('/api/auth', alice, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: alice }) });
    expect(same.status).toBe(200);
  });

  it('/api/auth: a ?ticket= upgrade is never answered by the fast path, even beside a cached header token', async () => {
    const alice = await bff.token('alice');
    expect((await call('/api/auth/api/agents', alice)).status).toBe(200);
    const created = await call('/api/agents', alice, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hot' }) });
    const { id } = (await created.json()) as { id: string };
    const issued = await call(`/api/agents/${id}/ws-ticket`, alice, { method: 'POST' });
    const { ticket } = (await issued.json()) as { ticket: string };
    decide.mockClear();
    const both = await call('/api/auth', alice, { headers: { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}` } });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { reason: string }).reason).toBe('ambiguous_token');
    const alone = await call('/api/auth', undefined, { headers: { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}` } });
    expect(alone.status).toBe(200);
    expect(alone.headers.get('x-user-name')).toBe('alice');
    // Both reached the route with the ticket (the second once more, deciding the token the ticket stands for).
    expect(decide.mock.calls.filter(([sources]) => (sources as { wsTicket?: unknown }).wsTicket !== undefined)).toHaveLength(2);
  });

  it('/api/validate: a cached header token with a different access-token query is 400 ambiguous_token', async () => {
    const [alice, other] = await Promise.all([bff.token('alice'), bff.token('admin')]);
    expect((await call('/api/validate/v1/statement', alice)).status).toBe(200);
    const res = await call(`/api/validate/v1/statement?access-token=${other}`, alice);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toBe('ambiguous_token');
  });

  it('HEAD /auth/me is not taken by the fast path and still answers like GET, without a body', async () => {
    const token = await bff.token('alice');
    await call('/auth/me', token);
    const head = await call('/auth/me', token, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});
