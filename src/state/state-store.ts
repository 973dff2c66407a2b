import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createClient, type RedisClientType } from '@redis/client';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { KeyKindIndex, keyKinds, StateFull, type KeyKind } from './key-kinds';

/** Replaces the key kinds' bounds (tests; the app derives them from its configuration). */
export const STATE_KEY_KINDS = Symbol('STATE_KEY_KINDS');

/** Valkey commands that do not answer within this are treated as Valkey being down. */
const COMMAND_TIMEOUT_MS = 500;
/**
 * While Valkey is up, memory keeps a copy of the most recent writes (for reads during an outage),
 * at most this many keys: the oldest copies are dropped first. Keys written while Valkey is down
 * are never dropped (memory is then their only home, until they are copied back).
 */
export const MIRROR_MAX_KEYS = 10_000;

/** The operations the BFF's shared state needs; one in-memory and one Valkey implementation. */
interface Backend {
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

type Entry = { value: string | Set<string>; expiresAt?: number };

/** A subscriber of a pub/sub channel: its messages, and a call whenever messages may have been missed. */
export interface Subscriber {
  onMessage(message: string): void;
  /** After (re)connecting to Valkey: broadcasts sent meanwhile were lost; re-read what they stood for. */
  onResync(): void;
}

class MemoryBackend implements Backend {
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

class ValkeyBackend implements Backend {
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

/**
 * The BFF's shared state: Valkey when VALKEY_URL is set, so that every replica sees the same
 * agents, query owners, tickets and quotas; memory otherwise. When Valkey is unreachable or
 * slow, operations fall back to memory (logged once per outage, never a 500) and return to
 * Valkey by themselves when it is back.
 */
@Injectable()
export class StateStore implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('StateStore');
  private readonly memory: MemoryBackend;
  private client?: RedisClientType;
  private valkey?: ValkeyBackend;
  private degraded = false;
  /** Keys written to memory while Valkey was unavailable, to be copied back on recovery. */
  private readonly dirty = new Set<string>();
  private sweeper?: NodeJS.Timeout;
  /** Pub/sub: the subscribers of each channel, and the connection that receives from Valkey. */
  private readonly channels = new Map<string, Subscriber[]>();
  private subscriber?: RedisClientType;
  /** Tags this process's own broadcasts, which it delivers to itself at once (not again from Valkey). */
  private readonly origin = randomBytes(8).toString('hex');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly readiness: ReadinessRegistry,
    @Optional() @Inject(STATE_KEY_KINDS) kinds?: KeyKind[],
  ) {
    // Without Valkey, memory is the store itself: each kind of key bounded by its row of key-kinds.ts
    // (oldest dropped or new refused, per kind). With Valkey, it is a bounded copy of recent writes,
    // except the keys written during an outage and not yet copied back.
    const pendingMax = config.session?.login?.pendingMax;
    const index = new KeyKindIndex(kinds ?? keyKinds(pendingMax === undefined ? {} : { 'pending-login': pendingMax }));
    this.memory = config.valkeyUrl ? new MemoryBackend(index, true, MIRROR_MAX_KEYS, (key) => this.dirty.has(key)) : new MemoryBackend(index);
  }

  /** Keys held in memory (the outage copy with Valkey, the whole state without). */
  get memoryKeys(): number {
    return this.memory.size;
  }

  /** Keys of one kind (key-kinds.ts) held in memory. */
  memoryKeysOf(kind: string): number {
    return this.memory.sizeOf(kind);
  }

  async onModuleInit(): Promise<void> {
    this.sweeper = setInterval(() => this.memory.sweep(), 60_000);
    this.sweeper.unref();
    if (!this.config.valkeyUrl) return;
    this.client = createClient({
      url: this.config.valkeyUrl,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    }) as RedisClientType;
    this.client.on('error', () => this.markDegraded('connection error'));
    this.client.on('ready', () => {
      if (this.degraded) this.log.log({ event: 'valkey.recovered' }, 'Valkey is reachable again; shared state restored');
      this.degraded = false;
      void this.replay();
    });
    this.valkey = new ValkeyBackend(this.client);
    this.readiness.register('valkey', async () =>
      this.client?.isReady ? { status: 'up' } : { status: 'degraded', detail: 'Valkey unreachable: serving from memory' },
    );
    // Do not block boot on Valkey: the app serves from memory until it connects.
    this.client.connect().catch(() => this.markDegraded('initial connection failed'));
    if (this.channels.size > 0) this.connectSubscriber();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub?.isOpen) await sub.close().catch(() => sub.destroy());
    if (this.client?.isOpen) await this.client.close().catch(() => this.client?.destroy());
  }

  /** Whether state is currently shared through Valkey. */
  get shared(): boolean {
    return !!this.client?.isReady;
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const raw = await this.run(key, (b) => b.get(key));
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }
  setJson(key: string, value: unknown, ttlMs?: number): Promise<void> {
    return this.write(key, (b) => b.set(key, JSON.stringify(value), ttlMs));
  }
  /** Writes only when the key is absent (Valkey: SET NX PX, atomic across replicas); whether it wrote. Leases. */
  setIfAbsent(key: string, value: unknown, ttlMs: number): Promise<boolean> {
    return this.write(key, (b) => b.setIfAbsent(key, JSON.stringify(value), ttlMs));
  }
  del(key: string): Promise<void> {
    return this.write(key, (b) => b.del(key));
  }
  /** Reads and deletes atomically (single-use tickets). */
  async takeJson<T>(key: string): Promise<T | undefined> {
    const raw = await this.write(key, (b) => b.take(key));
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }
  /** Atomic counter; the TTL is set when the key is created (quotas, rate limits). */
  incrBy(key: string, by: number, ttlMs: number): Promise<number> {
    return this.write(key, (b) => b.incrBy(key, by, ttlMs));
  }
  /** Adds to a set; with `ttlMs`, the set lives at least that long from now (never shortened). */
  sAdd(key: string, member: string, ttlMs?: number): Promise<void> {
    return this.write(key, (b) => b.sAdd(key, member, ttlMs));
  }
  sRem(key: string, member: string): Promise<void> {
    return this.write(key, (b) => b.sRem(key, member));
  }
  sMembers(key: string): Promise<string[]> {
    return this.run(key, (b) => b.sMembers(key));
  }
  /** The values of the live keys starting with `prefix` (a SCAN in Valkey: for rare resyncs, not for requests). */
  async scanJson<T>(prefix: string): Promise<T[]> {
    let keys: string[] | undefined;
    if (this.client?.isReady) {
      const scanned = await this.attempt(async () => {
        const found: string[] = [];
        for await (const batch of this.client!.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) found.push(...batch);
        return found;
      });
      if (scanned.ok) keys = scanned.value;
    }
    keys ??= this.memory.keysWithPrefix(prefix);
    const values = await Promise.all(keys.map((k) => this.getJson<T>(k).catch(() => undefined)));
    return values.filter((v): v is Awaited<T> => v !== undefined) as T[];
  }

  /**
   * Broadcasts `message` to the subscribers of `channel` in every replica: this process's at once,
   * the others' through Valkey pub/sub. Without Valkey (or while it is down) only this process hears
   * it; the others catch up through their onResync when they reconnect.
   */
  async publish(channel: string, message: string): Promise<void> {
    this.deliver(channel, message);
    if (!this.client?.isReady) return;
    await this.attempt(async () => {
      await this.client!.publish(channel, `${this.origin} ${message}`);
    });
  }

  /** Subscribes to a channel (see publish); onResync is also called once Valkey is first connected. */
  subscribe(channel: string, subscriber: Subscriber): void {
    const list = this.channels.get(channel) ?? [];
    list.push(subscriber);
    this.channels.set(channel, list);
    if (this.client) this.connectSubscriber();
  }

  private deliver(channel: string, message: string): void {
    for (const s of this.channels.get(channel) ?? []) {
      try {
        s.onMessage(message);
      } catch (err) {
        this.log.error({ event: 'state.subscriber_failed', channel, err });
      }
    }
  }

  /** The pub/sub connection (a second one: a subscribed connection takes no other command), subscribed to every channel. */
  private connectSubscriber(): void {
    if (!this.client) return;
    if (!this.subscriber) {
      // Commands wait for the connection here (a subscription asked for before it is up is sent when it is).
      const sub = this.client.duplicate({ disableOfflineQueue: false }) as RedisClientType;
      this.subscriber = sub;
      sub.on('error', () => this.markDegraded('pub/sub connection error'));
      // Also after a reconnection (the client subscribes again by itself): what was published meanwhile is lost.
      sub.on('ready', () => {
        for (const list of this.channels.values()) for (const s of list) s.onResync();
      });
      sub.connect().catch(() => this.markDegraded('pub/sub connection failed'));
    }
    for (const channel of this.channels.keys()) this.listen(channel);
  }

  private readonly listening = new Set<string>();
  private listen(channel: string): void {
    if (!this.subscriber || this.listening.has(channel)) return;
    this.listening.add(channel);
    const own = `${this.origin} `;
    void this.subscriber
      .subscribe(channel, (raw: string) => {
        if (raw.startsWith(own)) return;
        const space = raw.indexOf(' ');
        if (space > 0) this.deliver(channel, raw.slice(space + 1));
      })
      .catch(() => this.listening.delete(channel));
  }

  /**
   * Reserves from a budget, atomically (in Valkey: one Lua script, across replicas): with `used` and
   * `reserved` counters, grants min(max, limit − used − reserved) when that is at least `min`, else 0.
   * The reserved counter lives `reservedTtlMs` after its last change (a reservation whose holder died
   * is forgotten then).
   */
  reserve(usedKey: string, reservedKey: string, amount: { min: number; max: number }, limit: number, reservedTtlMs: number): Promise<number> {
    return this.write([usedKey, reservedKey], (b) => b.reserve(usedKey, reservedKey, amount.min, amount.max, limit, reservedTtlMs));
  }
  /** Ends a reservation: releases `reserved` and charges `charge` to `used` (TTL set when created); returns `used` after. */
  settle(usedKey: string, reservedKey: string, reserved: number, charge: number, usedTtlMs: number, reservedTtlMs: number): Promise<number> {
    return this.write([usedKey, reservedKey], (b) => b.settle(usedKey, reservedKey, reserved, charge, usedTtlMs, reservedTtlMs));
  }

  /**
   * A write. While Valkey is up it is also applied to memory, so that what was written before an
   * outage can still be read during it; while Valkey is down the key is remembered and replayed
   * into Valkey when it is back, so that nothing written during the outage is lost.
   */
  private async write<T>(key: string | string[], op: (b: Backend) => Promise<T>): Promise<T> {
    const keys = typeof key === 'string' ? [key] : key;
    if (this.valkey && this.client?.isReady) {
      const result = await this.attempt(op);
      if (result.ok) {
        for (const k of keys) this.dirty.delete(k);
        await op(this.memory);
        return result.value;
      }
    }
    if (this.valkey) for (const k of keys) this.dirty.add(k);
    return op(this.memory);
  }

  /** Copies the keys written during an outage from memory into Valkey (remaining TTL kept). */
  private async replay(): Promise<void> {
    const keys = [...this.dirty];
    let replayed = 0;
    for (const key of keys) {
      const e = this.memory.entry(key);
      const ttlMs = e?.expiresAt !== undefined ? e.expiresAt - Date.now() : undefined;
      const done = await this.attempt(async (b) => {
        if (!e || (ttlMs !== undefined && ttlMs <= 0)) return b.del(key);
        await b.del(key);
        if (typeof e.value === 'string') return b.set(key, e.value, ttlMs);
        for (const member of e.value) await b.sAdd(key, member, ttlMs);
      });
      if (!done.ok) return; // down again: the rest waits for the next recovery
      this.dirty.delete(key);
      replayed++;
    }
    if (replayed > 0) this.log.log({ event: 'valkey.replayed', keys: replayed }, 'state written during the Valkey outage copied back');
  }

  private async attempt<T>(op: (b: Backend) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        op(this.valkey!),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('Valkey command timed out')), COMMAND_TIMEOUT_MS);
        }),
      ]);
      return { ok: true, value };
    } catch (err) {
      this.markDegraded((err as Error).message);
      return { ok: false };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A read: from Valkey when it is up, except a key written during an outage and not yet copied back. */
  private async run<T>(key: string, op: (b: Backend) => Promise<T>): Promise<T> {
    if (this.valkey && this.client?.isReady && !this.dirty.has(key)) {
      const result = await this.attempt(op);
      if (result.ok) return result.value;
    }
    return op(this.memory);
  }

  private markDegraded(why: string): void {
    if (this.degraded) return;
    this.degraded = true;
    this.log.warn({ event: 'valkey.degraded', why }, 'Valkey unavailable: falling back to in-memory state until it is back');
  }
}
