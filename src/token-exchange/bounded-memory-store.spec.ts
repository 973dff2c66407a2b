import { BoundedMemoryStore } from './bounded-memory-store';

describe('BoundedMemoryStore', () => {
  it('drops the oldest entry beyond its bound, not on overwrite', () => {
    const store = new BoundedMemoryStore<number>(3, 0);
    store.set('a', 1).set('b', 2).set('c', 3);
    store.set('a', 10);
    expect([...store.keys()]).toEqual(['a', 'b', 'c']);
    store.set('d', 4);
    expect([...store.keys()]).toEqual(['b', 'c', 'd']);
  });

  it('sweeps entries whose Keyv expiry has passed', () => {
    const store = new BoundedMemoryStore<{ value: string; expires?: number }>(10, 0);
    store.set('old', { value: 'x', expires: 1000 });
    store.set('new', { value: 'y', expires: 3000 });
    store.set('forever', { value: 'z' });
    store.sweep(2000);
    expect([...store.keys()]).toEqual(['new', 'forever']);
  });
});
