/**
 * The in-process Keyv store of the token cache: a Map with a size bound (the oldest entry is
 * dropped first) and a sweep of expired entries, so that a BFF seeing many users does not grow
 * without limit. Keyv stores `{ value, expires }` objects in it (serialisation is off).
 */
export class BoundedMemoryStore<V = unknown> extends Map<string, V> {
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly maxEntries: number,
    sweepEveryMs = 60_000,
  ) {
    super();
    if (sweepEveryMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
      this.sweeper.unref();
    }
  }

  override set(key: string, value: V): this {
    if (!this.has(key) && this.size >= this.maxEntries) {
      // Map iteration order is insertion order: the first key is the oldest.
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }

  /** Drops every entry whose Keyv expiry has passed. */
  sweep(now = Date.now()): void {
    for (const [key, value] of this) {
      const expires = (value as { expires?: unknown } | null)?.expires;
      if (typeof expires === 'number' && expires <= now) this.delete(key);
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
