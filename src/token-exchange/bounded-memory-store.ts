import { LRUCache } from 'lru-cache';

/**
 * The in-process Keyv store of the token cache: lru-cache bounded to `maxEntries` (the least recently
 * used entry goes first), each entry kept no longer than the ttl Keyv sets it with, and a periodic
 * purge of the expired ones, so that a BFF seeing many users does not grow without limit. Keyv
 * stores `{ value, expires }` objects in it (serialisation is off).
 */
export class BoundedMemoryStore<V extends object = object> extends LRUCache<string, V> {
  private sweeper?: NodeJS.Timeout;

  constructor(maxEntries: number, sweepEveryMs = 60_000) {
    super({ max: maxEntries });
    if (sweepEveryMs > 0) {
      this.sweeper = setInterval(() => this.purgeStale(), sweepEveryMs);
      this.sweeper.unref();
    }
  }

  /** Keyv's `set(key, value, ttl)`: the ttl in milliseconds (none: until evicted). */
  override set(key: string, value: V, ttl?: number | LRUCache.SetOptions<string, V, unknown>): this {
    return super.set(key, value, typeof ttl === 'number' ? { ttl } : ttl);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
