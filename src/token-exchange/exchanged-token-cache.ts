import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import KeyvRedis from '@keyv/redis';
import { createClient, type RedisClientType } from '@redis/client';
import { createCache, type Cache } from 'cache-manager';
import type { Counter } from 'prom-client';
import { Keyv } from 'keyv';
import { Revocations, type Revocation } from '../auth/revocation.service';
import { MetricsService } from '../common/metrics.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { BoundedMemoryStore } from './bounded-memory-store';

/** The identity-provider session (issuer and sid) an exchange was made for: its entries are purged when it is logged out. */
export interface ExchangeSession {
  issuer: string;
  sid: string;
}

/** Valkey set of the cache keys of one session (kept as long as its longest entry). */
const sessionIndexKey = (s: ExchangeSession) => `bff:token-exchange-session:${createHash('sha256').update(`${s.issuer}\n${s.sid}`).digest('hex')}`;

/** One cached exchange: the exchanged token and when the cache must stop serving it (epoch ms). */
export interface ExchangeCacheEntry {
  token: string;
  until: number;
}

/** Valkey key namespace of the exchanged-token cache (keys are `bff:token-exchange::<audience>:<sha256>`). */
export const TOKEN_CACHE_NAMESPACE = 'bff:token-exchange';
/** A Valkey command that does not answer within this counts as Valkey being down. */
const SHARED_COMMAND_TIMEOUT_MS = 250;
/** After a failure (a timeout on a live connection), Valkey is tried again after this pause. */
const SHARED_RETRY_AFTER_MS = 2000;
/** Upper bound of the in-process tier. */
const LOCAL_MAX_ENTRIES = 20_000;

/**
 * Cache key of one exchange: the target audience and the SHA-256 of the subject token.
 * The raw token never is a key, in memory or in Valkey.
 */
export function exchangeCacheKey(audience: string, subjectToken: string): string {
  return `${audience}:${createHash('sha256').update(subjectToken).digest('hex')}`;
}

/**
 * The exchanged-token cache: cache-manager (v7) over Keyv stores, in two tiers.
 *
 * - local: an in-process memory store (bounded), consulted first — a hit costs no I/O;
 * - shared: Valkey through `@keyv/redis`, when VALKEY_URL is set, so that every replica
 *   reuses an exchange any of them made.
 *
 * Why `@keyv/redis` and not `cache-manager-ioredis-yet` (which the design first named): the latter
 * (last release 2.1.2, Dec 2024) implements cache-manager v5's `Store` interface and imports
 * v5 types that cache-manager v7 no longer exports; cache-manager ≥6 only takes Keyv stores, and its
 * `KeyvAdapter` for legacy stores expects a different contract (`mset(Record)`, `ttl(key)`,
 * `keys()`), which the ioredis-yet store does not match — see jaredwray/cacheable#1088, where
 * wrapping it fails to type-check. It would also pull in ioredis next to the @redis/client the
 * BFF already uses. `@keyv/redis` is the store cache-manager v7 documents, maintained with it,
 * built on @redis/client.
 *
 * Valkey failures never fail a request: a failed or slow (> 250 ms) command is a miss/no-op, the
 * cache falls back to the local tier (logged once per outage), and Valkey is used again as soon
 * as its connection is ready again (or, for a hung server, after a 2 s pause).
 */
@Injectable()
export class ExchangedTokenCache implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('TokenExchangeCache');
  private readonly localStore = new BoundedMemoryStore(LOCAL_MAX_ENTRIES);
  private readonly local: Cache;
  private shared?: Cache;
  private client?: RedisClientType;
  private pausedUntil = 0;
  private degraded = false;
  private readonly fallbacks: Counter;
  /** The local tier's keys of each session (by sessionIndexKey), for the purge on logout. */
  private readonly localBySession = new Map<string, Map<string, number>>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly readiness: ReadinessRegistry,
    metrics: MetricsService,
    revocations: Revocations,
  ) {
    const keyv = new Keyv({ store: this.localStore });
    // Entries stay objects in memory (as cache-manager's own default memory store does).
    keyv.serialize = undefined;
    keyv.deserialize = undefined;
    this.local = createCache({ stores: [keyv] });
    this.fallbacks = metrics.counter('bff_token_cache_fallbacks_total', 'Valkey operations of the token cache that failed and fell back to memory');
    // A logged-out session's exchanged tokens go: each replica drops its own copies; the one that received the
    // logout drops Valkey's, after the other listeners (which may still use them to clean up, e.g. cancel queries).
    revocations.listen({
      local: (r) => void this.purgeLocal(r),
      shared: (r) => this.purgeShared(r),
      last: true,
    });
  }

  onModuleInit(): void {
    if (!this.config.valkeyUrl) return;
    this.client = createClient({
      url: this.config.valkeyUrl,
      // Fail fast while disconnected instead of queueing: the local tier answers meanwhile.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    }) as RedisClientType;
    this.client.on('error', (err: Error) => this.sharedFailed(err.message, false));
    this.client.on('ready', () => this.sharedRecovered());
    const store = new KeyvRedis(this.client, { namespace: TOKEN_CACHE_NAMESPACE, throwOnErrors: true, throwOnConnectError: true });
    store.on('error', () => undefined); // reported through the client's own events
    const keyv = new Keyv({ store, namespace: TOKEN_CACHE_NAMESPACE, useKeyPrefix: false, throwOnErrors: true });
    keyv.on('error', () => undefined);
    this.shared = createCache({ stores: [keyv] });
    // cache-manager reports a failed get as an event (and a miss), not as a rejection.
    this.shared.on('get', (e: { error?: unknown }) => {
      if (e.error) this.sharedFailed(e.error instanceof Error ? e.error.message : 'get failed');
    });
    this.readiness.register('token-exchange-cache', async () =>
      this.sharedUsable() ? { status: 'up' } : { status: 'degraded', detail: 'Valkey unreachable: exchanged tokens cached in memory only' },
    );
    // Boot does not wait for Valkey: the local tier serves until it connects.
    this.client.connect().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.localStore.stop();
    const client = this.client;
    this.client = undefined;
    if (!client?.isOpen) return;
    // A connected client finishes its commands; one that is reconnecting is dropped at once.
    if (client.isReady) await client.close().catch(() => client.destroy());
    else client.destroy();
  }

  /** Whether Valkey is currently in use (false without VALKEY_URL). */
  get sharedAvailable(): boolean {
    return this.sharedUsable();
  }

  /** The cached exchange, from memory or else Valkey; undefined on a miss. Never throws. */
  async get(key: string, session?: ExchangeSession): Promise<ExchangeCacheEntry | undefined> {
    const local = await this.getLocal(key);
    if (local) return local;
    if (!this.shared || !this.sharedUsable()) return undefined;
    const shared = await this.sharedOp((c) => c.get<ExchangeCacheEntry>(key));
    const entry = shared && isLive(shared) ? shared : undefined;
    if (entry) await this.setLocal(key, entry, entry.until - Date.now(), session);
    return entry;
  }

  /** The live entries cached for a session, by cache key (both tiers). */
  async sessionEntries(session: ExchangeSession): Promise<Map<string, ExchangeCacheEntry>> {
    const keys = new Set(this.localBySession.get(sessionIndexKey(session))?.keys());
    if (this.client && this.sharedUsable()) {
      const members = await this.sharedOp(() => this.client!.sMembers(sessionIndexKey(session)));
      for (const k of members ?? []) keys.add(k);
    }
    const out = new Map<string, ExchangeCacheEntry>();
    for (const key of keys) {
      const entry = await this.get(key);
      if (entry) out.set(key, entry);
    }
    return out;
  }

  /** The in-process tier only (no I/O). */
  async getLocal(key: string): Promise<ExchangeCacheEntry | undefined> {
    const entry = await this.local.get<ExchangeCacheEntry>(key);
    return entry && isLive(entry) ? entry : undefined;
  }

  /** Stores an exchange in both tiers for `ttlMs`, indexed by its session when it has one. Valkey failures are absorbed. */
  async set(key: string, token: string, ttlMs: number, session?: ExchangeSession): Promise<void> {
    const ttl = Math.floor(ttlMs);
    if (ttl <= 0) return;
    const entry: ExchangeCacheEntry = { token, until: Date.now() + ttl };
    await this.setLocal(key, entry, ttl, session);
    if (!this.shared || !this.sharedUsable()) return;
    await this.sharedOp((c) => c.set(key, entry, ttl));
    if (session) {
      const index = sessionIndexKey(session);
      // The index lives as long as the session's longest entry (GT: never shortened).
      await this.sharedOp(() => this.client!.multi().sAdd(index, key).pExpire(index, ttl, 'NX').pExpire(index, ttl, 'GT').exec());
    }
  }

  private async setLocal(key: string, entry: ExchangeCacheEntry, ttl: number, session?: ExchangeSession): Promise<void> {
    await this.local.set(key, entry, ttl);
    if (!session) return;
    const index = sessionIndexKey(session);
    const keys = this.localBySession.get(index) ?? new Map<string, number>();
    keys.set(key, Date.now() + ttl);
    this.localBySession.set(index, keys);
    if (this.localBySession.size > LOCAL_MAX_ENTRIES) this.pruneLocalIndex();
  }

  private async purgeLocal(r: Revocation): Promise<void> {
    if (r.sid === undefined) return;
    const index = sessionIndexKey({ issuer: r.issuer, sid: r.sid });
    const keys = this.localBySession.get(index);
    this.localBySession.delete(index);
    for (const key of keys?.keys() ?? []) await this.local.del(key);
  }

  private async purgeShared(r: Revocation): Promise<void> {
    if (r.sid === undefined || !this.client || !this.shared || !this.sharedUsable()) return;
    const index = sessionIndexKey({ issuer: r.issuer, sid: r.sid });
    const keys = (await this.sharedOp(() => this.client!.sMembers(index))) ?? [];
    if (keys.length > 0) await this.sharedOp((c) => c.mdel(keys));
    await this.sharedOp(() => this.client!.del(index));
  }

  /** Forgets the expired entries of the local session index (the entries themselves expire in the local tier). */
  private pruneLocalIndex(): void {
    const now = Date.now();
    for (const [index, keys] of this.localBySession) {
      for (const [key, until] of keys) if (until <= now) keys.delete(key);
      if (keys.size === 0) this.localBySession.delete(index);
    }
  }

  private sharedUsable(): boolean {
    return !!this.client?.isReady && Date.now() >= this.pausedUntil;
  }

  private async sharedOp<T>(op: (cache: Cache) => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        op(this.shared!),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('Valkey command timed out')), SHARED_COMMAND_TIMEOUT_MS);
        }),
      ]);
      if (this.degraded) this.sharedRecovered();
      return result;
    } catch (err) {
      this.sharedFailed((err as Error).message);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private sharedFailed(why: string, pause = true): void {
    if (pause) {
      this.pausedUntil = Date.now() + SHARED_RETRY_AFTER_MS;
      this.fallbacks.inc();
    }
    if (this.degraded) return;
    this.degraded = true;
    this.log.warn({ event: 'token_cache.degraded', why }, 'Valkey unavailable: exchanged tokens are cached in memory until it is back');
  }

  private sharedRecovered(): void {
    this.pausedUntil = 0;
    if (!this.degraded) return;
    this.degraded = false;
    this.log.log({ event: 'token_cache.recovered' }, 'Valkey is reachable again: exchanged tokens are shared again');
  }
}

function isLive(entry: ExchangeCacheEntry): boolean {
  return typeof entry?.token === 'string' && typeof entry.until === 'number' && entry.until > Date.now();
}
