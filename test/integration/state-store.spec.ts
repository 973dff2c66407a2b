import type { AppConfig } from '../../src/config/app-config';
import { ReadinessRegistry } from '../../src/common/readiness.registry';
import { ValkeyClient } from '../../src/state/valkey-client';
import { MIRROR_MAX_KEYS, StateStore } from '../../src/state/state-store';
import { waitUntil } from '../support/net';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(60_000);

/**
 * The StateStore's memory copy of Valkey writes (what it serves from during an outage) is bounded:
 * a BFF that writes a query owner per Trino statement for days must not grow without end — the
 * 10-minute soak found it growing ~18 MB a minute. Keys written during an outage are never dropped.
 */
describe('StateStore with a real Valkey: the memory copy stays bounded, outage writes are kept', () => {
  let redis: RedisServer;
  let store: StateStore;
  const opened: ValkeyClient[] = [];

  /** A StateStore over its own ValkeyClient (as one replica of the BFF has), started as Nest starts them. */
  const openStore = () => {
    // 10 s, not the default 500 ms (SHARED_VALKEY_ENV's reason): a batch of 500 writes answered later than that by a stalled
    // event loop would be an outage, its keys kept in memory as outage writes, past the mirror's bound the first test checks.
    // The outage here is a killed Valkey, which fails commands at once whatever the timeout.
    const config = { valkeyUrl: redis.url, valkeyCommandTimeoutMs: Number(SHARED_VALKEY_ENV.VALKEY_COMMAND_TIMEOUT_MS) } as AppConfig;
    const valkey = new ValkeyClient(config, new ReadinessRegistry());
    opened.push(valkey);
    const s = new StateStore(config, valkey);
    valkey.onModuleInit();
    s.onModuleInit();
    return s;
  };

  beforeAll(async () => {
    redis = await startRedis();
    store = openStore();
    await waitUntil(() => store.shared, { timeoutMs: 5000, what: 'the store to reach Valkey' });
  });
  afterAll(async () => {
    store?.onApplicationShutdown();
    for (const v of opened) await v.onApplicationShutdown();
    await redis?.stop();
  });

  it('keeps at most MIRROR_MAX_KEYS copies while Valkey is up, and every key stays readable from Valkey', async () => {
    const total = MIRROR_MAX_KEYS + 2000;
    for (let i = 0; i < total; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => store.setJson(`soak:owner:${i + j}`, { owner: `user-${i + j}` }, 86_400_000)));
    }
    expect(store.memoryKeys).toBeLessThanOrEqual(MIRROR_MAX_KEYS);
    expect(store.memoryKeys).toBeGreaterThan(MIRROR_MAX_KEYS - 10);
    await expect(store.getJson('soak:owner:0')).resolves.toEqual({ owner: 'user-0' });
    await expect(store.getJson(`soak:owner:${total - 1}`)).resolves.toEqual({ owner: `user-${total - 1}` });
  });

  it('setIfAbsent is one lease across replicas: of many concurrent takers on two stores exactly one wins, until it is released or expires', async () => {
    const other = openStore();
    try {
      await waitUntil(() => other.shared, { timeoutMs: 5000, what: 'the second store to reach Valkey' });
      const key = 'session:refresh:lease-test';
      const take = () => Promise.all([store, other, store, other, other, store].map((s, i) => s.setIfAbsent(key, i, 60_000)));
      expect((await take()).filter(Boolean)).toHaveLength(1);
      expect(Number(await redis.command('PTTL', key).then((r) => r.slice(1)))).toBeGreaterThan(50_000);
      await other.del(key);
      expect((await take()).filter(Boolean)).toHaveLength(1);
      await redis.command('PEXPIRE', key, '1');
      await waitUntil(async () => (await redis.command('EXISTS', key)) === ':0', { timeoutMs: 5000, what: 'the lease to expire' });
      expect(await other.setIfAbsent(key, 'again', 60_000)).toBe(true);
      expect(await store.setIfAbsent(key, 'late', 60_000)).toBe(false);
    } finally {
      other.onApplicationShutdown();
      await opened.pop()!.onApplicationShutdown();
    }
  });

  // Outage writes are bounded per kind of key like any in-memory state (src/state/key-kinds.ts): the keys
  // here are query owners (100,000 at most), far more than the mirror's MIRROR_MAX_KEYS.
  it('never drops a key written during an outage beyond the mirror bound, and copies them back when Valkey returns', async () => {
    await redis.kill();
    await waitUntil(() => !store.shared, { timeoutMs: 5000, what: 'the store to notice Valkey is gone' });
    const during = MIRROR_MAX_KEYS + 500;
    for (let i = 0; i < during; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => store.setJson(`trino:query-owner:outage:${i + j}`, { n: i + j })));
    }
    expect(store.memoryKeys).toBeGreaterThanOrEqual(during);
    await expect(store.getJson('trino:query-owner:outage:0')).resolves.toEqual({ n: 0 });
    await expect(store.getJson(`trino:query-owner:outage:${during - 1}`)).resolves.toEqual({ n: during - 1 });

    await redis.restart(); // a fresh, empty Valkey: only the replay can bring these keys there
    await waitUntil(() => store.shared, { timeoutMs: 10_000, what: 'the store to reconnect' });
    await waitUntil(async () => (await redis.command('EXISTS', `trino:query-owner:outage:${during - 1}`)) === ':1', {
      timeoutMs: 20_000,
      what: 'the outage writes to be replayed',
    });
    expect(await redis.command('GET', 'trino:query-owner:outage:0')).toBe('{"n":0}');
    // Every outage write is back (counted by its own prefix: keys of the earlier tests still in the memory copy may be replayed too).
    expect(await redis.command('EVAL', "return #redis.call('KEYS', ARGV[1])", '0', 'trino:query-owner:outage:*')).toBe(`:${during}`);
    // Copied back, they are ordinary copies again: the next writes trim memory to the bound.
    await store.setJson('after:1', { ok: true });
    expect(store.memoryKeys).toBeLessThanOrEqual(MIRROR_MAX_KEYS);
  });
});
