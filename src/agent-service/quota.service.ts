import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { ownerKeyOf } from './agent.model';

/** A day's counter outlives the day by this much, so a turn that ends just after midnight UTC is still counted. */
const KEY_GRACE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface QuotaState {
  limit: number;
  used: number;
  /** Tokens left today (0 when spent). */
  remaining: number;
}

/**
 * Per-user daily token quota (AGENT_TOKEN_QUOTA tokens per user per UTC day), counted in the
 * StateStore (Valkey: every replica counts into the same atomic INCRBY counter). A turn is
 * admitted while tokens remain, its completion is capped at what remains, and its actual usage
 * (the provider's, or an estimate when the provider gives none) is charged when it ends. Several
 * sessions of one user may together overshoot by at most one turn each. AGENT_TOKEN_QUOTA=0 means
 * no agent conversation at all.
 */
@Injectable()
export class QuotaService {
  /** A session asks for its owner's key at every turn: the hash is computed once per principal. */
  private readonly owners = new WeakMap<Principal, string>();
  private day?: { number: number; text: string };

  constructor(
    private readonly store: StateStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get limit(): number {
    return this.config.agents.tokenQuota;
  }

  async state(principal: Principal, now = new Date()): Promise<QuotaState> {
    // A plain read (the counter is an integer string, which is JSON): cheaper than an INCRBY 0 transaction.
    const used = await this.store.getJson<unknown>(this.key(principal, now));
    return this.toState(typeof used === 'number' ? used : 0);
  }

  /** Adds a turn's tokens to today's count; returns the state after it. */
  async charge(principal: Principal, tokens: number, now = new Date()): Promise<QuotaState> {
    const n = Math.max(0, Math.ceil(tokens));
    return this.toState(await this.store.incrBy(this.key(principal, now), n, this.ttlMs(now)));
  }

  private toState(used: number): QuotaState {
    return { limit: this.limit, used, remaining: Math.max(0, this.limit - used) };
  }

  private key(principal: Principal, now: Date): string {
    let owner = this.owners.get(principal);
    if (owner === undefined) {
      owner = ownerKeyOf(principal);
      this.owners.set(principal, owner);
    }
    return `agents:quota:${owner}:${this.dayOf(now)}`;
  }

  /** YYYY-MM-DD (UTC) of `now`, formatted once a day. */
  private dayOf(now: Date): string {
    const day = Math.floor(now.getTime() / DAY_MS);
    if (day !== this.day?.number) this.day = { number: day, text: now.toISOString().slice(0, 10) };
    return this.day.text;
  }

  /** Until the end of the UTC day, plus the grace. */
  private ttlMs(now: Date): number {
    const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    return end - now.getTime() + KEY_GRACE_MS;
  }
}
