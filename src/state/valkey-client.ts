import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { openConnection, refusalOf, type ValkeyCommands, type ValkeyConnection } from './valkey-topologies';

export type { ValkeyCommands } from './valkey-topologies';

/** After a failed or timed-out command on a live connection, Valkey is tried again after this pause (memory serves meanwhile). */
export const RETRY_AFTER_MS = 2000;

/** At boot, the longest wait for Valkey's first answer (only credentials or a certificate it refuses fail the boot). */
export const FIRST_ANSWER_WAIT_MS = 3000;

/** Errors that say Valkey is not there (yet): boot goes on at once, memory serves until it is. */
const NOT_THERE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|timed? ?out|every hash slot|no sentinel reachable/i;

/** Valkey's availability: `degraded` once per outage; `recovered` on every (re)connection and when it answers again after an outage. */
export type ValkeyState = { state: 'degraded'; why: string } | { state: 'recovered' };

/**
 * The BFF's one connection to Valkey — one server, the primary Sentinel names, or a cluster
 * (src/config/valkey-topology.ts) — shared by the StateStore and the exchanged-token cache, with one outage
 * behaviour for both:
 * - boot does not wait for Valkey; a command that fails or does not answer within VALKEY_COMMAND_TIMEOUT_MS (500 ms by default) counts as an
 *   outage: the caller serves from memory, and Valkey is skipped for 2 s when its connection is still up
 *   (a hung server costs one timeout, not one per request);
 * - while the connection is down commands fail at once (no offline queue) and the client reconnects
 *   by itself (backoff up to 2 s);
 * - `valkey.degraded` is logged once per outage and `valkey.recovered` when Valkey answers again; the
 *   callers' onState listeners hear the same two transitions (the StateStore then copies back what it
 *   wrote meanwhile).
 * - credentials Valkey refuses, or a certificate TLS does not trust, fail the boot when they are its first answer
 *   (boot waits at most FIRST_ANSWER_WAIT_MS for it, and not at all while Valkey is not there); when one is seen
 *   later (a rotated password), `valkey.refused` is logged and /health/ready reports `valkey` down until Valkey
 *   answers again.
 * Pub/sub needs one more connection (a subscribed connection takes no other command): `subscribe` opens
 * it on first use (Sentinel and cluster clients keep theirs). Without Valkey nothing is opened and
 * `usable` is false.
 */
@Injectable()
export class ValkeyClient implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('Valkey');
  private readonly connection?: ValkeyConnection;
  private degraded = false;
  private pausedUntil = 0;
  private readonly listeners: ((s: ValkeyState) => void)[] = [];
  private readonly pubSubReady: (() => void)[] = [];
  /** Why Valkey refuses the BFF (credentials, certificate), until it takes it again. */
  private refused?: string;
  /** Settles the wait for the first answer at boot: with the refusal, or undefined. */
  private firstAnswer?: (refusal: string | undefined) => void;
  private readonly commandTimeoutMs: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly readiness: ReadinessRegistry,
  ) {
    this.commandTimeoutMs = config.valkeyCommandTimeoutMs;
    const topology = config.valkey ?? (config.valkeyUrl ? { mode: 'single' as const, url: config.valkeyUrl } : undefined);
    if (!topology) return;
    this.connection = openConnection(topology, {
      error: (why) => this.markDegraded(why),
      ready: () => this.markRecovered(),
      pubSubReady: () => {
        for (const l of this.pubSubReady) l();
      },
    });
  }

  /** Whether Valkey is configured at all (otherwise state lives in memory only). */
  get configured(): boolean {
    return this.connection !== undefined;
  }

  /** The command connection (only when configured). */
  get commands(): ValkeyCommands {
    if (!this.connection) throw new Error('Valkey is not configured');
    return this.connection.commands;
  }

  /** Whether commands should be sent now: connected, and not within the pause after a failure. */
  get usable(): boolean {
    return !!this.connection?.connected && Date.now() >= this.pausedUntil;
  }

  /** Hears every degraded/recovered transition. */
  onState(listener: (s: ValkeyState) => void): void {
    this.listeners.push(listener);
  }

  async onModuleInit(): Promise<void> {
    if (!this.connection) return;
    this.readiness.register('valkey', async () => {
      if (this.refused) return { status: 'down', detail: this.refused };
      return this.usable ? { status: 'up' } : { status: 'degraded', detail: 'Valkey unreachable: serving from memory' };
    });
    let timer: NodeJS.Timeout | undefined;
    const first = new Promise<string | undefined>((resolve) => {
      this.firstAnswer = resolve;
      timer = setTimeout(() => resolve(undefined), FIRST_ANSWER_WAIT_MS);
    });
    // Boot does not wait for Valkey to be there: the app serves from memory until it connects.
    this.connection.connect().catch((err: Error) => this.markDegraded(`initial connection failed: ${err.message}`));
    const refusal = await first;
    clearTimeout(timer);
    this.firstAnswer = undefined;
    if (refusal) {
      await this.connection.close();
      throw new Error(refusal);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection?.close();
  }

  /**
   * Runs `op` against Valkey with the command timeout; a failure or timeout marks an outage (and pauses
   * Valkey for RETRY_AFTER_MS). Never throws: `{ ok: false }` tells the caller to use memory.
   */
  async attempt<T>(op: (c: ValkeyCommands) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        op(this.commands),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('Valkey command timed out')), this.commandTimeoutMs);
        }),
      ]);
      if (this.degraded) this.markRecovered();
      return { ok: true, value };
    } catch (err) {
      this.failed((err as Error).message);
      return { ok: false };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A command failed (also when a library reports it as an event rather than a rejection): an outage, Valkey paused. */
  failed(why: string): void {
    this.pausedUntil = Date.now() + RETRY_AFTER_MS;
    this.markDegraded(why);
  }

  /** The keys starting with `prefix` (SCAN: for rare resyncs, not for requests); undefined when Valkey did not answer. */
  async scanKeys(prefix: string): Promise<string[] | undefined> {
    if (!this.usable) return undefined;
    const scanned = await this.attempt(() => this.connection!.scan(`${prefix}*`));
    return scanned.ok ? scanned.value : undefined;
  }

  /** Publishes on a channel; false when Valkey is not usable or did not take it. */
  async publish(channel: string, message: string): Promise<boolean> {
    if (!this.usable) return false;
    return (await this.attempt((c) => c.publish(channel, message))).ok;
  }

  /**
   * Subscribes to a channel on the pub/sub connection (opened on first use; a subscription asked for
   * before it is up is sent when it is, and again after each reconnection). `onReady` runs whenever
   * that connection is (re)established: what was published meanwhile is lost.
   */
  async subscribe(channel: string, onMessage: (raw: string) => void): Promise<void> {
    await this.connection?.subscribe(channel, onMessage);
  }

  /** Runs after each (re)connection of the pub/sub connection. */
  onPubSubReady(listener: () => void): void {
    this.pubSubReady.push(listener);
  }

  private markDegraded(why: string): void {
    const refusal = refusalOf(why);
    if (refusal && !this.refused) this.log.error({ event: 'valkey.refused', why: refusal }, 'Valkey refuses the BFF: not ready until it takes it again');
    if (refusal) this.refused = refusal;
    if (refusal || NOT_THERE.test(why)) this.firstAnswer?.(refusal);
    if (this.degraded) return;
    this.degraded = true;
    this.log.warn({ event: 'valkey.degraded', why }, 'Valkey unavailable: falling back to in-memory state until it is back');
    this.emit({ state: 'degraded', why });
  }

  /** On every (re)connection, and on the first answer after an outage. */
  private markRecovered(): void {
    this.firstAnswer?.(undefined);
    this.refused = undefined;
    this.pausedUntil = 0;
    if (this.degraded) this.log.log({ event: 'valkey.recovered' }, 'Valkey is reachable again; shared state restored');
    this.degraded = false;
    this.emit({ state: 'recovered' });
  }

  private emit(s: ValkeyState): void {
    for (const l of this.listeners) l(s);
  }
}
