import { createHash } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import KeyvRedis from '@keyv/redis';
import { createCache, type Cache } from 'cache-manager';
import type { Counter } from 'prom-client';
import { Keyv } from 'keyv';
import { Revocations, type Revocation } from '../auth/revocation.service';
import { MetricsService } from '../common/metrics.service';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
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
 * - shared: Valkey through `@keyv/redis` over the BFF's one Valkey connection (ValkeyClient, the
 *   StateStore's too), when Valkey is configured, so that every replica reuses an exchange any of them made.
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
 * Valkey failures never fail a request: the outage behaviour is ValkeyClient's (a failed or slow
 * command is a miss/no-op here, Valkey paused 2 s after it, used again as soon as it answers); the
 * local tier serves meanwhile, and the cache logs once per outage what that means for it.
 */
@Injectable()
export class ExchangedTokenCache implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('TokenExchangeCache');
  private readonly localStore = new BoundedMemoryStore(LOCAL_MAX_ENTRIES);
  private readonly local: Cache;
  private shared?: Cache;
  private degraded = false;
  private readonly fallbacks: Counter;
  /** The local tier's keys of each session (by sessionIndexKey), for the purge on logout. */
  private readonly localBySession = new Map<string, Map<string, number>>();

  constructor(
    private readonly valkey: ValkeyClient,
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
    valkey.onState((s) => (s.state === 'degraded' ? this.sharedFailed(s.why) : this.sharedRecovered()));
  }

  onModuleInit(): void {
    if (!this.valkey.configured) return;
    const store = new KeyvRedis(this.valkey.commands, { namespace: TOKEN_CACHE_NAMESPACE, throwOnErrors: true, throwOnConnectError: true });
    store.on('error', () => undefined); // reported through ValkeyClient
    const keyv = new Keyv({ store, namespace: TOKEN_CACHE_NAMESPACE, useKeyPrefix: false, throwOnErrors: true });
    keyv.on('error', () => undefined);
    this.shared = createCache({ stores: [keyv] });
    // cache-manager reports a failed get as an event (and a miss), not as a rejection.
    this.shared.on('get', (e: { error?: unknown }) => {
      if (!e.error) return;
      this.fallbacks.inc();
      this.valkey.failed(e.error instanceof Error ? e.error.message : 'get failed');
    });
    this.readiness.register('token-exchange-cache', async () =>
      this.valkey.usable ? { status: 'up' } : { status: 'degraded', detail: 'Valkey unreachable: exchanged tokens cached in memory only' },
    );
  }

  onApplicationShutdown(): void {
    this.localStore.stop();
  }

  /** Whether Valkey is currently in use (false without VALKEY_URL). */
  get sharedAvailable(): boolean {
    return !!this.shared && this.valkey.usable;
  }

  /** The cached exchange, from memory or else Valkey; undefined on a miss. Never throws. */
  async get(key: string, session?: ExchangeSession): Promise<ExchangeCacheEntry | undefined> {
    const local = await this.getLocal(key);
    if (local) return local;
    if (!this.sharedAvailable) return undefined;
    const shared = await this.sharedOp((c) => c.get<ExchangeCacheEntry>(key));
    const entry = shared && isLive(shared) ? shared : undefined;
    if (entry) await this.setLocal(key, entry, entry.until - Date.now(), session);
    return entry;
  }

  /** The live entries cached for a session, by cache key (both tiers). */
  async sessionEntries(session: ExchangeSession): Promise<Map<string, ExchangeCacheEntry>> {
    const keys = new Set(this.localBySession.get(sessionIndexKey(session))?.keys());
    if (this.sharedAvailable) {
      const members = await this.sharedOp(() => this.valkey.commands.sMembers(sessionIndexKey(session)));
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
    if (!this.sharedAvailable) return;
    await this.sharedOp((c) => c.set(key, entry, ttl));
    if (session) {
      const index = sessionIndexKey(session);
      // The index lives as long as the session's longest entry (GT: never shortened).
      await this.sharedOp(() => this.valkey.commands.multi().sAdd(index, key).pExpire(index, ttl, 'NX').pExpire(index, ttl, 'GT').exec());
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
    if (r.sid === undefined || !this.sharedAvailable) return;
    const index = sessionIndexKey({ issuer: r.issuer, sid: r.sid });
    const keys = (await this.sharedOp(() => this.valkey.commands.sMembers(index))) ?? [];
    if (keys.length > 0) await this.sharedOp((c) => c.mdel(keys));
    await this.sharedOp(() => this.valkey.commands.del(index));
  }

  /** Forgets the expired entries of the local session index (the entries themselves expire in the local tier). */
  private pruneLocalIndex(): void {
    const now = Date.now();
    for (const [index, keys] of this.localBySession) {
      for (const [key, until] of keys) if (until <= now) keys.delete(key);
      if (keys.size === 0) this.localBySession.delete(index);
    }
  }

  /** One Valkey operation of the cache, through ValkeyClient's outage behaviour; undefined when it failed. */
  private async sharedOp<T>(op: (cache: Cache) => Promise<T>): Promise<T | undefined> {
    const result = await this.valkey.attempt(() => op(this.shared!));
    if (result.ok) return result.value;
    this.fallbacks.inc();
    return undefined;
  }

  /** Logs once per outage what it means for the cache (ValkeyClient logs the outage itself). */
  private sharedFailed(why: string): void {
    if (this.degraded) return;
    this.degraded = true;
    this.log.warn({ event: 'token_cache.degraded', why }, 'Valkey unavailable: exchanged tokens are cached in memory until it is back');
  }

  private sharedRecovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.log.log({ event: 'token_cache.recovered' }, 'Valkey is reachable again: exchanged tokens are shared again');
  }
}

function isLive(entry: ExchangeCacheEntry): boolean {
  return typeof entry?.token === 'string' && typeof entry.until === 'number' && entry.until > Date.now();
}
