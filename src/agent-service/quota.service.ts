import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { ownerKeyOf } from './agent.model';

/** A day's counter outlives the day by this much, so a turn that ends just after midnight UTC is still counted. */
const KEY_GRACE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * agents:quota:<owner>:<day> → agents:quota-reserved:{agents:quota:<owner>:<day>}. The two are read and
 * written by one Lua script, so they must share a hash slot in a Valkey cluster: the reserved key's hash
 * tag is the whole used key (which has no braces, so it hashes as a whole) — the used key's name is unchanged.
 */
export const reservedKeyOf = (usedKey: string) => `agents:quota-reserved:{${usedKey}}`;

/**
 * A reservation lives this long after the last reservation or settlement of its user: a turn whose
 * process died holds its tokens that long at most (a live turn longer than this, with no other turn of
 * its user meanwhile, loses its reservation: that turn alone may then overshoot).
 */
export const RESERVATION_TTL_MS = 15 * 60 * 1000;

/** Tokens reserved for one turn, to be settled once. */
export interface Reservation {
  readonly principal: Principal;
  readonly day: Date;
  /** Tokens reserved (prompt estimate + reply cap). */
  readonly tokens: number;
  settled: boolean;
}

export interface QuotaState {
  limit: number;
  used: number;
  /** Tokens left today (0 when spent). */
  remaining: number;
}

/**
 * Per-user daily token quota (AGENT_TOKEN_QUOTA tokens per user per UTC day), counted in the
 * StateStore (Valkey: every replica counts into the same counters). Before a turn calls the
 * provider it reserves its prompt's estimated tokens plus its reply cap, atomically against what is
 * used and what other turns (any session, any replica) hold reserved; a turn that does not fit is
 * refused. When the turn ends — done, failed or abandoned — the reservation is settled: the
 * provider's reported usage is charged and the rest released. AGENT_TOKEN_QUOTA=0 means no agent
 * conversation at all.
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

  /**
   * Reserves `prompt` tokens plus a reply of up to `replyCap` (at least one reply token), or less reply
   * when that is all that is left. Undefined when not even the prompt and one token fit.
   */
  async reserve(principal: Principal, prompt: number, replyCap: number, now = new Date()): Promise<Reservation | undefined> {
    const min = Math.max(0, Math.ceil(prompt)) + 1;
    const max = min - 1 + Math.max(1, Math.floor(replyCap));
    const key = this.key(principal, now);
    const granted = await this.store.reserve(key, reservedKeyOf(key), { min, max }, this.limit, RESERVATION_TTL_MS);
    return granted > 0 ? { principal, day: now, tokens: granted, settled: false } : undefined;
  }

  /** Settles a reservation once: charges `used` tokens (the provider's count) and releases the rest. */
  async settle(r: Reservation, used: number): Promise<QuotaState> {
    if (r.settled) return this.state(r.principal);
    r.settled = true;
    const key = this.key(r.principal, r.day);
    const n = Math.max(0, Math.ceil(used));
    return this.toState(await this.store.settle(key, reservedKeyOf(key), r.tokens, n, this.ttlMs(r.day), RESERVATION_TTL_MS));
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
