import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import type { Principal } from './principal';

/**
 * One logout the BFF learned of: every token of an identity-provider session (`sid`), or every
 * token of a user (`sub`) issued at or before `before`. Kept until `until` (epoch ms), when every
 * token it refuses has expired anyway (REVOCATION_TTL_S after the logout).
 */
export interface Revocation {
  issuer: string;
  sid?: string;
  sub?: string;
  /** Epoch seconds: with `sub`, tokens issued at or before this are refused. */
  before?: number;
  until: number;
}

/** What a module does when a session or user is logged out. */
export interface RevocationListener {
  /** In every replica, once it learns of the revocation (close its own sockets, drop its own caches). No I/O to wait for. */
  local?(r: Revocation): void;
  /** Once, in the replica that received the logout: work on shared state (Valkey keys, queries, stored sessions). */
  shared?(r: Revocation): Promise<void>;
  /** Run the shared work after every other listener's (it removes what the others may still need). */
  last?: boolean;
}

/** The pub/sub channel revocations travel on between replicas. */
export const REVOCATIONS_CHANNEL = 'bff:revocations';
const PRUNE_EVERY_MS = 60_000;

const hashOf = (...parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex');
const sessionKey = (issuer: string, sid: string) => `revoked:session:${hashOf(issuer, sid)}`;
const userKey = (issuer: string, sub: string) => `revoked:user:${hashOf(issuer, sub)}`;
const mapKey = (issuer: string, id: string) => `${issuer}\n${id}`;

/** The `sid` claim of a verified token, when it has one (Keycloak's user-session id). */
export function sessionOf(principal: Principal): string | undefined {
  const sid = principal.claims.sid;
  return typeof sid === 'string' && sid.length > 0 ? sid : undefined;
}

/**
 * Revoked sessions and users, in every replica: each revocation is a record in the StateStore
 * (Valkey: shared, with a TTL of REVOCATION_TTL_S) and a broadcast on REVOCATIONS_CHANNEL; every
 * replica keeps the live ones in memory, so that the check on each request (guard, fast path,
 * /api/validate, /api/auth, WebSocket upgrade: all through the AccessDecider) costs two map
 * look-ups and no I/O. A replica that was disconnected from Valkey re-reads the records when it
 * reconnects (broadcasts sent meanwhile are lost), and at boot.
 */
@Injectable()
export class Revocations implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('Revocations');
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { before: number; until: number }>();
  private readonly listeners: RevocationListener[] = [];
  private readonly ttlMs: number;
  private pruner?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly state: StateStore,
  ) {
    this.ttlMs = config.revocation.ttlS * 1000;
  }

  onModuleInit(): void {
    this.state.subscribe(REVOCATIONS_CHANNEL, {
      onMessage: (m) => this.learn(parse(m)),
      onResync: () => void this.resync(),
    });
    this.pruner = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruner.unref();
    void this.resync();
  }

  onApplicationShutdown(): void {
    clearInterval(this.pruner);
  }

  /** Registers what a module does on a revocation (see RevocationListener). */
  listen(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  /** Whether a verified token is revoked: its session was logged out, or its user after it was issued. Memory only, synchronous. */
  isRevoked(p: Principal): boolean {
    if (this.sessions.size === 0 && this.users.size === 0) return false;
    const now = Date.now();
    const sid = sessionOf(p);
    if (sid !== undefined && (this.sessions.get(mapKey(p.issuer, sid)) ?? 0) > now) return true;
    const user = this.users.get(mapKey(p.issuer, p.subject));
    if (!user || user.until <= now) return false;
    const iat = p.claims.iat;
    return typeof iat !== 'number' || iat <= user.before;
  }

  /** isRevoked, also asking the StateStore for a record this replica has not heard of yet (before a turn reaches the LLM provider). */
  async isRevokedNow(p: Principal): Promise<boolean> {
    if (this.isRevoked(p)) return true;
    const sid = sessionOf(p);
    const found = await Promise.all([
      sid === undefined ? undefined : this.state.getJson<Revocation>(sessionKey(p.issuer, sid)).catch(() => undefined),
      this.state.getJson<Revocation>(userKey(p.issuer, p.subject)).catch(() => undefined),
    ]);
    for (const r of found) if (r) this.learn(r);
    return this.isRevoked(p);
  }

  /**
   * Revokes a session (sid) or a user's tokens up to `before`: recorded, broadcast, applied here,
   * then the shared work of every listener (cancel queries, end stored sessions) is done here once.
   */
  async revoke(what: { issuer: string; sid?: string; sub?: string; before?: number }): Promise<Revocation> {
    const r: Revocation = { ...what, until: Date.now() + this.ttlMs };
    if (r.sid !== undefined) await this.state.setJson(sessionKey(r.issuer, r.sid), r, this.ttlMs);
    else if (r.sub !== undefined) {
      const earlier = await this.state.getJson<Revocation>(userKey(r.issuer, r.sub));
      r.before = Math.max(r.before ?? 0, earlier?.before ?? 0);
      await this.state.setJson(userKey(r.issuer, r.sub), r, this.ttlMs);
    } else throw new Error('a revocation names a session or a user');
    await this.state.publish(REVOCATIONS_CHANNEL, JSON.stringify(r));
    for (const l of [...this.listeners.filter((x) => !x.last), ...this.listeners.filter((x) => x.last)]) {
      if (!l.shared) continue;
      await l.shared(r).catch((err: unknown) => this.log.error({ event: 'revocation.listener_failed', err }));
    }
    return r;
  }

  /** Applies a revocation heard of (broadcast, resync, look-up); the local listeners run when it is news here. */
  private learn(r: Revocation | undefined): void {
    if (!r || r.until <= Date.now()) return;
    let news = false;
    if (r.sid !== undefined) {
      const key = mapKey(r.issuer, r.sid);
      news = !this.sessions.has(key);
      this.sessions.set(key, Math.max(r.until, this.sessions.get(key) ?? 0));
    } else if (r.sub !== undefined && typeof r.before === 'number') {
      const key = mapKey(r.issuer, r.sub);
      const known = this.users.get(key);
      news = !known || known.before < r.before;
      this.users.set(key, { before: Math.max(r.before, known?.before ?? 0), until: Math.max(r.until, known?.until ?? 0) });
    }
    if (!news) return;
    for (const l of this.listeners) {
      try {
        l.local?.(r);
      } catch (err) {
        this.log.error({ event: 'revocation.listener_failed', err });
      }
    }
  }

  private async resync(): Promise<void> {
    try {
      for (const r of await this.state.scanJson<Revocation>('revoked:')) this.learn(r);
    } catch (err) {
      this.log.warn({ event: 'revocation.resync_failed', error: (err as Error).message });
    }
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, until] of this.sessions) if (until <= now) this.sessions.delete(k);
    for (const [k, u] of this.users) if (u.until <= now) this.users.delete(k);
  }
}

/** A broadcast revocation, or undefined when the message is not one. */
function parse(message: string): Revocation | undefined {
  try {
    const v = JSON.parse(message) as Revocation;
    const ok =
      typeof v?.issuer === 'string' && typeof v.until === 'number' && (typeof v.sid === 'string' || (typeof v.sub === 'string' && typeof v.before === 'number'));
    return ok ? v : undefined;
  } catch {
    return undefined;
  }
}
