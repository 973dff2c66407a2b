import type { Principal } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { ownerKeyOf } from './agent.model';
import { QuotaService } from './quota.service';

const user = (subject: string, issuer = 'https://idp/realms/platform') => ({ subject, issuer }) as Principal;

describe('QuotaService', () => {
  const make = (tokenQuota: number) => {
    const config = { agents: { tokenQuota, wsAllowedOrigins: [] } } as unknown as AppConfig;
    const store = new StateStore(config, new ValkeyClient(config, new ReadinessRegistry()));
    return { store, quota: new QuotaService(store, config) };
  };

  it('counts tokens per user per UTC day', async () => {
    const { quota } = make(100);
    const day = new Date('2026-11-24T23:59:00Z');
    expect(await quota.state(user('a'), day)).toEqual({ limit: 100, used: 0, remaining: 100 });
    expect(await quota.charge(user('a'), 60, day)).toEqual({ limit: 100, used: 60, remaining: 40 });
    expect(await quota.charge(user('a'), 50.2, day)).toEqual({ limit: 100, used: 111, remaining: 0 });
    expect((await quota.state(user('b'), day)).used).toBe(0);
    expect((await quota.state(user('a', 'https://other-issuer'), day)).used).toBe(0);
    expect((await quota.state(user('a'), new Date('2026-11-25T00:00:01Z'))).used).toBe(0);
    // Back to the first day (a turn that ends after midnight is charged to the day it was stamped with).
    expect((await quota.state(user('a'), day)).used).toBe(111);
  });

  it('keys one principal the same way at every turn (the owner hash is computed once)', async () => {
    const { store, quota } = make(100);
    const get = jest.spyOn(store, 'getJson');
    const alice = user('alice');
    await quota.state(alice);
    await quota.charge(alice, 1);
    await quota.state(alice);
    expect(new Set(get.mock.calls.map(([key]) => key)).size).toBe(1);
    expect(get.mock.calls[0][0]).toMatch(new RegExp(`^agents:quota:${ownerKeyOf(alice)}:\\d{4}-\\d{2}-\\d{2}$`));
  });

  it('keeps a day’s counter until the end of that UTC day plus a grace hour', async () => {
    const { store, quota } = make(10);
    const incr = jest.spyOn(store, 'incrBy');
    await quota.charge(user('a'), 3, new Date('2026-11-24T22:00:00Z'));
    const [key, by, ttl] = incr.mock.calls[0];
    expect(key).toMatch(/^agents:quota:[0-9a-f]{40}:2026-11-24$/);
    expect(by).toBe(3);
    expect(ttl).toBe(3 * 3600 * 1000);
  });

  it('AGENT_TOKEN_QUOTA=0 leaves nothing to spend', async () => {
    const { quota } = make(0);
    expect((await quota.state(user('a'))).remaining).toBe(0);
  });
});
