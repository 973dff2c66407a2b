import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { KeyKindIndex, keyKinds, type KeyKind } from './key-kinds';
import { MemoryBackend, ValkeyBackend, type Backend } from './state-backends';
import { ValkeyClient } from './valkey-client';

/** Replaces the key kinds' bounds (tests; the app derives them from its configuration). */
export const STATE_KEY_KINDS = Symbol('STATE_KEY_KINDS');

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
 * The BFF's shared state: Valkey when it is configured, so that every replica sees the same
 * agents, query owners, tickets and quotas; memory otherwise. When Valkey is unreachable or
 * slow, operations fall back to memory (never a 500; the outage behaviour is ValkeyClient's) and
 * return to Valkey by themselves when it is back, copying back what was written meanwhile.
 */
@Injectable()
export class StateStore implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('StateStore');
  private readonly memory: MemoryBackend;
  /** The Valkey side of every operation (undefined without Valkey). */
  private readonly valkey?: ValkeyBackend;
  /** Keys written to memory while Valkey was unavailable, to be copied back on recovery. */
  private readonly dirty = new Set<string>();
  private sweeper?: NodeJS.Timeout;
  /** Pub/sub: the subscribers of each channel, and the connection that receives from Valkey. */
  private readonly channels = new Map<string, Subscriber[]>();
  /** Tags this process's own broadcasts, which it delivers to itself at once (not again from Valkey). */
  private readonly origin = randomBytes(8).toString('hex');

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly connection: ValkeyClient,
    @Optional() @Inject(STATE_KEY_KINDS) kinds?: KeyKind[],
  ) {
    // Without Valkey, memory is the store itself: each kind of key bounded by its row of key-kinds.ts
    // (oldest dropped or new refused, per kind). With Valkey, it is a bounded copy of recent writes,
    // except the keys written during an outage and not yet copied back.
    const pendingMax = config.session?.login?.pendingMax;
    const index = new KeyKindIndex(kinds ?? keyKinds(pendingMax === undefined ? {} : { 'pending-login': pendingMax }));
    if (!connection.configured) {
      this.memory = new MemoryBackend(index);
      return;
    }
    this.memory = new MemoryBackend(index, true, MIRROR_MAX_KEYS, (key) => this.dirty.has(key));
    this.valkey = new ValkeyBackend(connection.commands);
    connection.onState((s) => {
      if (s.state === 'recovered') void this.replay();
    });
    // After (re)connecting the pub/sub connection: broadcasts sent meanwhile were lost.
    connection.onPubSubReady(() => {
      for (const list of this.channels.values()) for (const s of list) s.onResync();
    });
  }

  /** Keys held in memory (the outage copy with Valkey, the whole state without). */
  get memoryKeys(): number {
    return this.memory.size;
  }

  /** Keys of one kind (key-kinds.ts) held in memory. */
  memoryKeysOf(kind: string): number {
    return this.memory.sizeOf(kind);
  }

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.memory.sweep(), 60_000);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  /** Whether state is currently shared through Valkey. */
  get shared(): boolean {
    return this.connection.usable;
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
    const keys = (this.valkey && (await this.connection.scanKeys(prefix))) || this.memory.keysWithPrefix(prefix);
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
    if (this.valkey) await this.connection.publish(channel, `${this.origin} ${message}`);
  }

  /** Subscribes to a channel (see publish); onResync is also called once Valkey is first connected. */
  subscribe(channel: string, subscriber: Subscriber): void {
    const list = this.channels.get(channel) ?? [];
    list.push(subscriber);
    this.channels.set(channel, list);
    if (this.valkey) this.listen(channel);
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

  private readonly listening = new Set<string>();
  private listen(channel: string): void {
    if (this.listening.has(channel)) return;
    this.listening.add(channel);
    const own = `${this.origin} `;
    void this.connection
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
    if (this.valkey && this.connection.usable) {
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

  private attempt<T>(op: (b: Backend) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    return this.connection.attempt(() => op(this.valkey!));
  }

  /** A read: from Valkey when it is up, except a key written during an outage and not yet copied back. */
  private async run<T>(key: string, op: (b: Backend) => Promise<T>): Promise<T> {
    if (this.valkey && this.connection.usable && !this.dirty.has(key)) {
      const result = await this.attempt(op);
      if (result.ok) return result.value;
    }
    return op(this.memory);
  }
}
