import type { RedisClientType } from '@redis/client';
import { StateFull, type KeyKind, type KeyKindIndex } from './key-kinds';

/*
 * The two stores behind StateStore (state-store.ts), which chooses between them, falls back from Valkey to
 * memory during an outage and copies back after it.
 */

/** The operations the BFF's shared state needs; one in-memory and one Valkey implementation. */
export interface Backend {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(key: string): Promise<void>;
  take(key: string): Promise<string | undefined>;
  incrBy(key: string, by: number, ttlMs: number): Promise<number>;
  sAdd(key: string, member: string, ttlMs?: number): Promise<void>;
  sRem(key: string, member: string): Promise<void>;
  sMembers(key: string): Promise<string[]>;
  reserve(usedKey: string, reservedKey: string, min: number, max: number, limit: number, reservedTtlMs: number): Promise<number>;
  settle(usedKey: string, reservedKey: string, reserved: number, charge: number, usedTtlMs: number, reservedTtlMs: number): Promise<number>;
}

/**
 * Reserves up to ARGV[2] (at least ARGV[1]) of a budget ARGV[3] against KEYS[1] (used) and KEYS[2]
 * (reserved): the grant, or 0 when not even the minimum fits. One script: atomic across replicas.
 */
const RESERVE_LUA = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0'))
local avail = tonumber(ARGV[3]) - used - reserved
if avail < tonumber(ARGV[1]) then return 0 end
local grant = math.min(tonumber(ARGV[2]), avail)
redis.call('SET', KEYS[2], reserved + grant, 'PX', ARGV[4])
return grant`;

/** Releases a reservation (ARGV[1]) and charges ARGV[2] to the used counter; returns the used count after. */
const SETTLE_LUA = `
local reserved = tonumber(redis.call('GET', KEYS[2]) or '0') - tonumber(ARGV[1])
if reserved > 0 then redis.call('SET', KEYS[2], reserved, 'PX', ARGV[4]) else redis.call('DEL', KEYS[2]) end
local used = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
return used`;

export type Entry = { value: string | Set<string>; expiresAt?: number };

/** The state in this process: every kind of key bounded by its row of key-kinds.ts, or a bounded copy of Valkey's. */
export class MemoryBackend implements Backend {
  private readonly values = new Map<string, Entry>();
  /** The keys of each kind, oldest write first (Set order is insertion order). */
  private readonly byKind = new Map<KeyKind, Set<string>>();

  /**
   * @param kinds every kind of key with its bound (src/state/key-kinds.ts)
   * @param mirror true when this is a copy of Valkey's state: any kind may then drop its oldest
   *   copy, except the keys `pinned` (written during an outage: memory is their only home)
   * @param maxKeys keys kept at most in all, oldest write dropped first (the mirror's bound)
   */
  constructor(
    private readonly kinds: KeyKindIndex,
    private readonly mirror = false,
    private readonly maxKeys = Infinity,
    private readonly pinned: (key: string) => boolean = () => false,
  ) {}

  get size(): number {
    return this.values.size;
  }

  /** Keys held of one kind. */
  sizeOf(kindName: string): number {
    for (const [kind, keys] of this.byKind) if (kind.name === kindName) return keys.size;
    return 0;
  }

  /** Stores an entry as the newest one of its kind and in all; a new key first makes room or is refused (StateFull). */
  private put(key: string, entry: Entry): void {
    const kind = this.kinds.of(key);
    let keys = this.byKind.get(kind);
    if (keys === undefined) this.byKind.set(kind, (keys = new Set()));
    if (!keys.has(key) && keys.size >= kind.max) this.makeRoom(kind, keys);
    this.values.delete(key);
    this.values.set(key, entry);
    keys.delete(key);
    keys.add(key);
    if (this.values.size <= this.maxKeys) return;
    for (const old of this.values.keys()) {
      if (this.values.size <= this.maxKeys) break;
      if (!this.pinned(old)) this.remove(old);
    }
  }

  /**
   * Frees one place in a full kind: expired keys from the oldest end (stopping at the first live one:
   * a kind's keys share one lifetime, so that order is about their expiry order, and the cost stays
   * O(1) per write), then the oldest (when the kind allows it), else StateFull.
   */
  private makeRoom(kind: KeyKind, keys: Set<string>): void {
    const now = Date.now();
    for (const k of keys) {
      const e = this.values.get(k);
      if (e?.expiresAt === undefined || e.expiresAt > now) break;
      this.remove(k);
    }
    if (keys.size < kind.max) return;
    // A copy Valkey also holds goes first; then, for a kind that may lose keys, even one written during
    // an outage (its replay then deletes it in Valkey too); a kind that may not is refused.
    if (kind.onFull === 'evict-oldest' || this.mirror) {
      for (const k of keys) {
        if (this.pinned(k)) continue;
        this.remove(k);
        return;
      }
    }
    if (kind.onFull === 'evict-oldest') {
      for (const k of keys) {
        this.remove(k);
        return;
      }
    }
    throw new StateFull(kind);
  }

  private remove(key: string): void {
    if (!this.values.delete(key)) return;
    this.byKind.get(this.kinds.of(key))?.delete(key);
  }

  private live(key: string) {
    const e = this.values.get(key);
    if (e && e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.remove(key);
      return undefined;
    }
    return e;
  }
  async get(key: string) {
    const e = this.live(key);
    return typeof e?.value === 'string' ? e.value : undefined;
  }
  async set(key: string, value: string, ttlMs?: number) {
    this.put(key, { value, expiresAt: ttlMs ? Date.now() + ttlMs : undefined });
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    if (this.live(key)) return false;
    this.put(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }
  async del(key: string) {
    this.remove(key);
  }
  async take(key: string) {
    const v = await this.get(key);
    this.remove(key);
    return v;
  }
  async incrBy(key: string, by: number, ttlMs: number) {
    const e = this.live(key);
    const next = (typeof e?.value === 'string' ? Number(e.value) : 0) + by;
    this.put(key, { value: String(next), expiresAt: e?.expiresAt ?? Date.now() + ttlMs });
    return next;
  }
  async sAdd(key: string, member: string, ttlMs?: number) {
    const e = this.live(key);
    const until = ttlMs ? Date.now() + ttlMs : undefined;
    if (e?.value instanceof Set) {
      e.value.add(member);
      if (until !== undefined && e.expiresAt !== undefined) e.expiresAt = Math.max(e.expiresAt, until);
      this.put(key, e);
    } else this.put(key, { value: new Set([member]), expiresAt: until });
  }
  async sRem(key: string, member: string) {
    const e = this.live(key);
    if (e?.value instanceof Set) e.value.delete(member);
  }
  async sMembers(key: string) {
    const e = this.live(key);
    return e?.value instanceof Set ? [...e.value] : [];
  }
  async reserve(usedKey: string, reservedKey: string, min: number, max: number, limit: number, reservedTtlMs: number) {
    const used = Number((await this.get(usedKey)) ?? 0);
    const reserved = Math.max(0, Number((await this.get(reservedKey)) ?? 0));
    const avail = limit - used - reserved;
    if (avail < min) return 0;
    const grant = Math.min(max, avail);
    this.put(reservedKey, { value: String(reserved + grant), expiresAt: Date.now() + reservedTtlMs });
    return grant;
  }
  async settle(usedKey: string, reservedKey: string, reserved: number, charge: number, usedTtlMs: number, reservedTtlMs: number) {
    const left = Number((await this.get(reservedKey)) ?? 0) - reserved;
    if (left > 0) this.put(reservedKey, { value: String(left), expiresAt: Date.now() + reservedTtlMs });
    else this.remove(reservedKey);
    return this.incrBy(usedKey, charge, usedTtlMs);
  }
  /** The live entry of a key (value and expiry), for replaying it into Valkey. */
  entry(key: string): Entry | undefined {
    return this.live(key);
  }
  /** The live keys starting with `prefix`. */
  keysWithPrefix(prefix: string): string[] {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix) && this.live(k) !== undefined);
  }
  /** Drops expired entries so an idle memory store does not grow. */
  sweep() {
    for (const key of this.values.keys()) this.live(key);
  }
}

/** The state in Valkey (the quota's reserve and settle as Lua scripts: atomic across replicas). */
export class ValkeyBackend implements Backend {
  constructor(private readonly client: RedisClientType) {}
  async get(key: string) {
    return (await this.client.get(key)) ?? undefined;
  }
  async set(key: string, value: string, ttlMs?: number) {
    await (ttlMs ? this.client.set(key, value, { expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) } }) : this.client.set(key, value));
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    const done = await this.client.set(key, value, { condition: 'NX', expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) } });
    return done === 'OK';
  }
  async del(key: string) {
    await this.client.del(key);
  }
  async take(key: string) {
    return (await this.client.getDel(key)) ?? undefined;
  }
  async incrBy(key: string, by: number, ttlMs: number) {
    const [value] = await this.client.multi().incrBy(key, by).pExpire(key, Math.ceil(ttlMs), 'NX').exec();
    return Number(value);
  }
  async sAdd(key: string, member: string, ttlMs?: number) {
    if (!ttlMs) return void (await this.client.sAdd(key, member));
    // The set lives as long as its longest-lived member: a new set gets the TTL (NX), an existing one only a longer one (GT).
    const ms = Math.ceil(ttlMs);
    await this.client.multi().sAdd(key, member).pExpire(key, ms, 'NX').pExpire(key, ms, 'GT').exec();
  }
  async sRem(key: string, member: string) {
    await this.client.sRem(key, member);
  }
  async sMembers(key: string) {
    return this.client.sMembers(key);
  }
  async reserve(usedKey: string, reservedKey: string, min: number, max: number, limit: number, reservedTtlMs: number) {
    const args = [String(min), String(max), String(limit), String(Math.ceil(reservedTtlMs))];
    return Number(await this.client.eval(RESERVE_LUA, { keys: [usedKey, reservedKey], arguments: args }));
  }
  async settle(usedKey: string, reservedKey: string, reserved: number, charge: number, usedTtlMs: number, reservedTtlMs: number) {
    const args = [String(reserved), String(charge), String(Math.ceil(usedTtlMs)), String(Math.ceil(reservedTtlMs))];
    return Number(await this.client.eval(SETTLE_LUA, { keys: [usedKey, reservedKey], arguments: args }));
  }
}
