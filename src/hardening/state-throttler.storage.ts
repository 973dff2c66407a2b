import { Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { StateStore } from '../state/state-store';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * @nestjs/throttler's storage on the shared StateStore: a fixed window per key, counted with
 * StateStore.incrBy, so every replica sharing Valkey sees the same count (memory when Valkey is
 * down or unset). The window index is part of the key, so the counter needs no read-back of its
 * TTL: the window ends at (index + 1) × ttl, and a caller over the limit is blocked until then.
 */
@Injectable()
export class StateThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly state: StateStore) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = Date.now();
    const window = Math.floor(now / ttl);
    const windowEnd = (window + 1) * ttl;
    const totalHits = await this.state.incrBy(`ratelimit:${throttlerName}:${key}:${window}`, 1, windowEnd - now + 1000);
    // Seconds, as the throttler's own storage answers them (Retry-After and X-RateLimit-Reset).
    const secondsLeft = Math.max(1, Math.ceil((windowEnd - now) / 1000));
    const isBlocked = totalHits > limit;
    return { totalHits, timeToExpire: secondsLeft, isBlocked, timeToBlockExpire: isBlocked ? secondsLeft : 0 };
  }
}
