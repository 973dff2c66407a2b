import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from './valkey-client';
import { KEY_KINDS, KeyKindIndex, keyKinds, StateFull } from './key-kinds';
import { StateStore } from './state-store';

const MAX = 3;
/** A memory-only store (no VALKEY_URL) whose every kind holds MAX keys. */
const smallStore = () =>
  new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry()), keyKinds(Object.fromEntries(KEY_KINDS.map((k) => [k.name, MAX]))));
/** The i-th distinct key of a kind, shaped like its example. */
const keyOf = (example: string, i: number) => (example === 'agents:all' ? example : `${example}-${i}`);

describe('key kinds', () => {
  it('each example resolves to its own kind (the longest prefix wins), everything else to "other"', () => {
    const index = new KeyKindIndex(KEY_KINDS);
    expect(KEY_KINDS.map((k) => index.of(k.example).name)).toEqual(KEY_KINDS.map((k) => k.name));
    expect(index.of('session:login:x').name).toBe('pending-login');
    expect(index.of('session:login-count:x').name).toBe('login-counter');
    expect(index.of('session:x').name).toBe('session');
    expect(index.of('something:new').name).toBe('other');
  });

  it('pending logins take LOGIN_PENDING_MAX from the configuration', () => {
    const store = new StateStore(
      { session: { login: { pendingMax: 2 } } } as AppConfig,
      new ValkeyClient({ session: { login: { pendingMax: 2 } } } as AppConfig, new ReadinessRegistry()),
    );
    return (async () => {
      await store.setJson('session:login:a', 1, 60_000);
      await store.setJson('session:login:b', 1, 60_000);
      await expect(store.setJson('session:login:c', 1, 60_000)).rejects.toBeInstanceOf(StateFull);
    })();
  });
});

describe('in-memory StateStore, setIfAbsent', () => {
  it('writes only an absent or expired key, and says whether it wrote', async () => {
    const store = new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry()));
    expect(await Promise.all([1, 2, 3].map((n) => store.setIfAbsent('session:refresh:x', n, 60_000)))).toEqual([true, false, false]);
    expect(await store.getJson('session:refresh:x')).toBe(1);
    await store.del('session:refresh:x');
    expect(await store.setIfAbsent('session:refresh:x', 4, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(await store.setIfAbsent('session:refresh:x', 5, 60_000)).toBe(true);
    expect(await store.getJson('session:refresh:x')).toBe(5);
  });
});

/** One test per kind: the in-memory StateStore never holds more than the kind's bound, and does what the row says when full. */
describe.each(KEY_KINDS.filter((k) => k.name !== 'agent-index').map((k) => [k.name, k] as const))('in-memory StateStore, kind %s', (_name, kind) => {
  it(kind.onFull === 'evict-oldest' ? 'drops the oldest key when full' : 'refuses a new key when full (503), keeps every old one', async () => {
    const store = smallStore();
    for (let i = 0; i < MAX; i++) await store.setJson(keyOf(kind.example, i), i, 60_000);
    const extra = keyOf(kind.example, MAX);
    if (kind.onFull === 'evict-oldest') {
      await store.setJson(extra, MAX, 60_000);
      expect(store.memoryKeysOf(kind.name)).toBe(MAX);
      await expect(store.getJson(keyOf(kind.example, 0))).resolves.toBeUndefined();
      await expect(store.getJson(extra)).resolves.toBe(MAX);
    } else {
      const refused = await store.setJson(extra, MAX, 60_000).then(
        () => 'stored',
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(StateFull);
      expect((refused as StateFull).getStatus()).toBe(503);
      expect(store.memoryKeysOf(kind.name)).toBe(MAX);
      for (let i = 0; i < MAX; i++) await expect(store.getJson(keyOf(kind.example, i))).resolves.toBe(i);
      // Rewriting an existing key, counters and sets included, is never refused; a deleted or expired key frees its place.
      await store.setJson(keyOf(kind.example, 0), 'again', 60_000);
      await store.del(keyOf(kind.example, 1));
      await store.setJson(extra, MAX, 60_000);
      await expect(store.getJson(extra)).resolves.toBe(MAX);
    }
    // Counters (incrBy) and sets (sAdd) are held to the same bound.
    await store.incrBy(keyOf(kind.example, 100), 1, 60_000).catch(() => undefined);
    await store.sAdd(keyOf(kind.example, 101), 'm').catch(() => undefined);
    expect(store.memoryKeysOf(kind.name)).toBeLessThanOrEqual(MAX);
  });

  it('an expired key frees its place', async () => {
    const store = smallStore();
    for (let i = 0; i < MAX; i++) await store.setJson(keyOf(kind.example, i), i, 1);
    await new Promise((r) => setTimeout(r, 5));
    await store.setJson(keyOf(kind.example, MAX), MAX, 60_000);
    await expect(store.getJson(keyOf(kind.example, MAX))).resolves.toBe(MAX);
    expect(store.memoryKeysOf(kind.name)).toBe(1);
  });
});

describe('in-memory StateStore, kind agent-index (one key: agents:all)', () => {
  it('holds its one key, and it is refused a second', async () => {
    const store = new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry()), keyKinds());
    await store.sAdd('agents:all', 'a');
    await store.sAdd('agents:all', 'b');
    await expect(store.sMembers('agents:all')).resolves.toEqual(['a', 'b']);
    await expect(store.setJson('agents:all-2', 1)).rejects.toBeInstanceOf(StateFull);
  });
});
