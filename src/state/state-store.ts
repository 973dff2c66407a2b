import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createClient, type RedisClientType } from '@redis/client';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { KeyKindIndex, keyKinds, type KeyKind } from './key-kinds';
import { MemoryBackend, ValkeyBackend, type Backend } from './state-backends';

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

/** A subscriber of a pub/sub channel: its messages, and a call whenever messages may have been missed. */
export interface Subscriber {
  onMessage(message: string): void;
  /** After (re)connecting to Valkey: broadcasts sent meanwhile were lost; re-read what they stood for. */
  onResync(): void;
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
