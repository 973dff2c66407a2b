import { BoundedMemoryStore } from './bounded-memory-store';

describe('BoundedMemoryStore', () => {
  it('drops the least recently used entry beyond its bound, not on overwrite', () => {
    const store = new BoundedMemoryStore<{ v: number }>(3, 0);
    store.set('a', { v: 1 }).set('b', { v: 2 }).set('c', { v: 3 });
    store.set('a', { v: 10 });
    expect(store.size).toBe(3);
    store.set('d', { v: 4 });
    expect([...store.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(store.get('a')).toEqual({ v: 10 });
  });

  it('keeps an entry no longer than the ttl Keyv gives it', async () => {
    const store = new BoundedMemoryStore<{ v: string }>(10, 0);
    store.set('short', { v: 'x' }, 20);
    store.set('long', { v: 'y' }, 3_600_000);
    store.set('forever', { v: 'z' });
    expect(store.get('short')).toEqual({ v: 'x' });
    await new Promise((resolve) => setTimeout(resolve, 50)); // past the short ttl, whatever the machine's load
    expect(store.get('short')).toBeUndefined();
    expect(store.get('long')).toEqual({ v: 'y' });
    store.purgeStale();
    expect([...store.keys()].sort()).toEqual(['forever', 'long']);
  });
});
