import { startSandbox, type Sandbox } from '../../sandbox/index';
import { StateStore } from '../../src/state/state-store';
import { startTestBff, type TestBff } from '../support/app';

jest.setTimeout(120_000);

/**
 * Issue 15 item 3: GET /auth/login is public and each call stores a pending login for 10 minutes.
 * Before: every call was a 302 and stored ~2 KB, without bound (20,000 calls from one client: +265 MB).
 */
describe('GET /auth/login is bounded (issue 15 item 3)', () => {
  let sandbox: Sandbox;
  const bffs: TestBff[] = [];
  const start = async (env: Record<string, string>) => {
    const bff = await startTestBff(env, { sandbox });
    bffs.push(bff);
    return bff;
  };
  const login = (bff: TestBff, returnTo = '/mlflow/', headers: Record<string, string> = {}) =>
    fetch(`${bff.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, { redirect: 'manual', headers });

  async function expectProblem(res: Response, status: number, reason: string) {
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: expect.stringMatching(/^application\/problem\+json/) });
    expect(await res.json()).toMatchObject({ status, reason });
  }

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    for (const b of bffs) await b.close();
    await sandbox?.close();
  });

  it('returnTo is at most 512 characters (400 beyond)', async () => {
    const bff = await start({});
    const at = await login(bff, `/mlflow/${'x'.repeat(512 - '/mlflow/'.length)}`);
    expect(at.status).toBe(302);
    await expectProblem(await login(bff, `/mlflow/${'x'.repeat(513 - '/mlflow/'.length)}`), 400, 'validation_failed');
  });

  it('LOGIN_RATE_PER_MINUTE calls a minute per client address, then 429 rate_limited with Retry-After', async () => {
    const bff = await start({ LOGIN_RATE_PER_MINUTE: '5', LOGIN_PENDING_PER_CLIENT: '1000' });
    // Counting windows are aligned on the minute: six calls that straddle two windows get a 302 for the sixth. The BFF
    // runs in this process: its clock is moved back to the start of the current window (instead of waiting for the next).
    const realNow = Date.now.bind(Date);
    const intoWindow = realNow() % 60_000;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - intoWindow);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await login(bff)).status);
      expect(statuses).toEqual([302, 302, 302, 302, 302]);
      const refused = await login(bff);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      await expectProblem(refused, 429, 'rate_limited');
    } finally {
      clock.mockRestore();
    }
  });

  it('LOGIN_PENDING_PER_CLIENT logins in flight per client address, then 429', async () => {
    const bff = await start({ LOGIN_RATE_PER_MINUTE: '0', LOGIN_PENDING_PER_CLIENT: '4' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await login(bff)).status);
    expect(statuses).toEqual([302, 302, 302, 302]);
    await expectProblem(await login(bff), 429, 'rate_limited');
  });

  it('LOGIN_PENDING_MAX logins in flight in all, whatever the addresses (TRUST_PROXY: one per X-Forwarded-For)', async () => {
    const bff = await start({ TRUST_PROXY: 'true', LOGIN_RATE_PER_MINUTE: '0', LOGIN_PENDING_PER_CLIENT: '2', LOGIN_PENDING_MAX: '5' });
    const from = (ip: string) => login(bff, '/mlflow/', { 'x-forwarded-for': ip });
    const statuses: number[] = [];
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2', '10.0.0.3']) statuses.push((await from(ip)).status);
    expect(statuses).toEqual([302, 302, 302, 302, 302]);
    await expectProblem(await from('10.0.0.1'), 429, 'rate_limited'); // its own bound
    await expectProblem(await from('10.0.0.3'), 429, 'rate_limited'); // the total
    await expectProblem(await from('10.0.0.4'), 429, 'rate_limited'); // the total, a fresh address
  });

  it('2,000 logins from one client with defaults: 30 stored at most, the rest refused (no Valkey: the in-memory store)', async () => {
    const bff = await start({});
    const store = bff.app.get(StateStore);
    const before = store.memoryKeys;
    const statuses = new Map<number, number>();
    const returnTo = `/mlflow/#/${'x'.repeat(400)}`;
    for (let i = 0; i < 2000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => login(bff, returnTo)));
      for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 302: 30, 429: 1970 });
    // Pending logins, the login counters and the rate-limit counters: a few dozen keys, not thousands.
    expect(store.memoryKeys - before).toBeLessThanOrEqual(40);
  });
});
