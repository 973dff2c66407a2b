import { createClient, createCluster, createSentinel, type RedisClientType, type RedisClusterType, type RedisSentinelType } from '@redis/client';
import { defined, type ValkeyTls, type ValkeyTopology } from '../config/valkey-topology';

/*
 * The three ways the BFF connects to Valkey (src/config/valkey-topology.ts), behind one interface that
 * ValkeyClient (valkey-client.ts) drives with its one outage behaviour.
 */

/**
 * The commands the BFF sends. Every one names its keys (multi-key ones keep their keys in one hash slot),
 * so node-redis routes them the same way on the three clients: the single client's type stands for all three.
 */
export type ValkeyCommands = RedisClientType;

/**
 * A failure no retry cures, as the operator has to fix it (undefined for any other failure): Valkey refused the
 * BFF's credentials, or TLS did not trust Valkey's certificate. Built from the error message alone (the server's
 * reply or Node's TLS error: neither carries a password).
 */
export function refusalOf(why: string): string | undefined {
  if (/\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid username-password|without any password configured/i.test(why)) {
    return `Valkey refused the BFF's credentials (VALKEY_USERNAME/VALKEY_PASSWORD, VALKEY_SENTINEL_USERNAME/VALKEY_SENTINEL_PASSWORD or those in VALKEY_URL): ${why}`;
  }
  if (/certificate|altnames|self[- ]signed/i.test(why)) return `TLS did not trust Valkey's certificate (VALKEY_CA_FILE): ${why}`;
  return undefined;
}

/** What ValkeyClient hears from a connection. */
export interface ConnectionEvents {
  /** The connection failed or dropped. */
  error(why: string): void;
  /** Connected, or reconnected (also after a Sentinel failover): commands go through again. */
  ready(): void;
  /** The pub/sub connection is (again) subscribed: what was published while it was not is lost. */
  pubSubReady(): void;
}

/** One topology's connection: commands, pub/sub, SCAN over every primary. */
export interface ValkeyConnection {
  readonly commands: ValkeyCommands;
  /** Whether commands can be sent now (connected). */
  readonly connected: boolean;
  connect(): Promise<void>;
  subscribe(channel: string, onMessage: (raw: string) => void): Promise<void>;
  /** The keys matching `pattern` on every primary. */
  scan(pattern: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Connect within 2 s; reconnect with a backoff of at most 2 s. */
const SOCKET = { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) };
/** Fail fast while disconnected instead of queueing: memory answers meanwhile. */
const NODE_OPTIONS = { disableOfflineQueue: true, socket: SOCKET };

/** The socket options of a connection: TLS (with the configured CA, verified) when the topology asks for it. */
function socketFor(tls: ValkeyTls | undefined) {
  return tls ? { ...SOCKET, tls: true as const, ...(tls.ca === undefined ? {} : { ca: tls.ca }) } : SOCKET;
}

export function openConnection(topology: ValkeyTopology, events: ConnectionEvents): ValkeyConnection {
  const socket = socketFor(topology.tls);
  switch (topology.mode) {
    case 'single':
      return new SingleConnection(createClient({ url: topology.url, ...NODE_OPTIONS, socket }) as RedisClientType, events);
    case 'sentinel':
      return new SentinelConnection(
        createSentinel({
          name: topology.master,
          sentinelRootNodes: topology.sentinels,
          nodeClientOptions: { ...NODE_OPTIONS, socket, ...defined({ username: topology.username, password: topology.password }) },
          sentinelClientOptions: { socket, ...defined({ username: topology.sentinelUsername, password: topology.sentinelPassword }) },
        }) as unknown as RedisSentinelType,
        events,
      );
    case 'cluster':
      return new ClusterConnection(
        createCluster({
          rootNodes: topology.nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
          defaults: { ...NODE_OPTIONS, socket, ...defined({ username: topology.username, password: topology.password }) },
        }) as unknown as RedisClusterType,
        events,
      );
  }
}

/** Shutdown waits this long for in-flight commands, then drops the connections (a failover in progress must not hold it). */
const CLOSE_WITHIN_MS = 2000;

async function closeWithin(close: () => Promise<unknown>, destroy: () => unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WITHIN_MS)));
  const outcome = await Promise.race([
    close().then(
      () => 'closed' as const,
      () => 'failed' as const,
    ),
    late,
  ]);
  clearTimeout(timer);
  if (outcome !== 'closed') await destroy();
}

/** SCAN with MATCH on one server, every batch. */
async function scanServer(c: RedisClientType, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const reply = await c.scan(cursor, { MATCH: pattern, COUNT: 1000 });
    keys.push(...reply.keys);
    cursor = String(reply.cursor);
  } while (cursor !== '0');
  return keys;
}

/** One server (VALKEY_URL); pub/sub on a second connection (a subscribed connection takes no other command). */
class SingleConnection implements ValkeyConnection {
  private subscriber?: RedisClientType;

  constructor(
    readonly commands: RedisClientType,
    private readonly events: ConnectionEvents,
  ) {
    commands.on('error', (err: Error) => events.error(err.message || 'connection error'));
    commands.on('ready', () => events.ready());
  }

  get connected(): boolean {
    return this.commands.isReady;
  }

  async connect(): Promise<void> {
    await this.commands.connect();
  }

  async subscribe(channel: string, onMessage: (raw: string) => void): Promise<void> {
    if (!this.subscriber) {
      // Commands wait for this connection (a subscription asked for before it is up is sent when it is).
      const sub = this.commands.duplicate({ disableOfflineQueue: false }) as RedisClientType;
      this.subscriber = sub;
      sub.on('error', (err: Error) => this.events.error(`pub/sub connection: ${err.message}`));
      // Also after a reconnection (the client subscribes again by itself).
      sub.on('ready', () => this.events.pubSubReady());
      sub.connect().catch(() => this.events.error('pub/sub connection failed'));
    }
    await this.subscriber.subscribe(channel, onMessage);
  }

  scan(pattern: string): Promise<string[]> {
    return scanServer(this.commands, pattern);
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub?.isOpen) await sub.close().catch(() => sub.destroy());
    const c = this.commands;
    if (!c.isOpen) return;
    // A connected client finishes its commands; one that is reconnecting is dropped at once.
    if (c.isReady) await c.close().catch(() => c.destroy());
    else c.destroy();
  }
}

/** While Valkey cannot be reached at boot, connecting is tried again this often (memory serves meanwhile). */
const CONNECT_RETRY_MS = 2000;

/**
 * Connecting until it succeeds (a BFF may boot before its Valkey), then the subscriptions asked for before the
 * connection was up. Sentinel and cluster clients keep their subscriptions across reconnections and failovers.
 */
abstract class ManagedConnection implements ValkeyConnection {
  protected open = false;
  private closed = false;
  private retry?: NodeJS.Timeout;
  private readonly pending = new Map<string, (raw: string) => void>();

  abstract readonly commands: ValkeyCommands;
  abstract readonly connected: boolean;
  /** Connects, or rejects (then it is called again CONNECT_RETRY_MS later). */
  protected abstract start(): Promise<void>;
  protected abstract listen(channel: string, onMessage: (raw: string) => void): Promise<unknown>;
  abstract scan(pattern: string): Promise<string[]>;
  protected abstract shutdown(): Promise<void>;

  constructor(protected readonly events: ConnectionEvents) {}

  async connect(): Promise<void> {
    for (;;) {
      try {
        await this.start();
        break;
      } catch (err) {
        if (this.closed) return;
        this.events.error(`connection failed: ${(err as Error).message}`);
        await new Promise<void>((resolve) => (this.retry = setTimeout(resolve, CONNECT_RETRY_MS)));
        if (this.closed) return;
      }
    }
    this.open = true;
    for (const [channel, onMessage] of this.pending) await this.listen(channel, onMessage);
    this.pending.clear();
    this.events.ready();
    this.events.pubSubReady();
  }

  async subscribe(channel: string, onMessage: (raw: string) => void): Promise<void> {
    if (this.open) await this.listen(channel, onMessage);
    else this.pending.set(channel, onMessage);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.open = false;
    clearTimeout(this.retry);
    await this.shutdown();
  }
}

/** The primary Sentinel names (VALKEY_SENTINELS + VALKEY_SENTINEL_MASTER), followed across failovers. */
class SentinelConnection extends ManagedConnection {
  constructor(
    private readonly sentinel: RedisSentinelType,
    events: ConnectionEvents,
  ) {
    super(events);
    sentinel.on('error', (err: unknown) => events.error(err instanceof Error ? err.message : String(err)));
    // A failover: the client now talks to the promoted primary (its pub/sub connection too).
    sentinel.on('topology-change', (e: { type: string }) => {
      if (e.type !== 'MASTER_CHANGE' || !this.open) return;
      events.ready();
      events.pubSubReady();
    });
  }

  get commands(): ValkeyCommands {
    return this.sentinel as unknown as ValkeyCommands;
  }

  get connected(): boolean {
    return this.open && this.sentinel.isReady;
  }

  protected async start(): Promise<void> {
    // After a failed first connect the client goes on trying by itself: wait for it to be ready.
    if (this.sentinel.isOpen) {
      if (!this.sentinel.isReady) throw new Error('no sentinel reachable yet');
      return;
    }
    await this.sentinel.connect();
  }

  protected listen(channel: string, onMessage: (raw: string) => void): Promise<unknown> {
    return this.sentinel.subscribe(channel, onMessage);
  }

  scan(pattern: string): Promise<string[]> {
    return scanServer(this.commands, pattern);
  }

  protected async shutdown(): Promise<void> {
    await closeWithin(
      () => this.sentinel.close(),
      () => this.sentinel.destroy(),
    );
  }
}

const HASH_SLOTS = 16384;

/** Whether the client's slot map names a primary for every one of the cluster's hash slots. */
function servesEverySlot(slots: ReadonlyArray<{ master?: unknown } | undefined>): boolean {
  if (slots.length !== HASH_SLOTS) return false;
  for (let i = 0; i < HASH_SLOTS; i++) if (!slots[i]?.master) return false;
  return true;
}

/** A Valkey cluster (VALKEY_CLUSTER_NODES): keys routed by hash slot, SCAN on every primary. */
class ClusterConnection extends ManagedConnection {
  private up = false;

  constructor(
    private readonly cluster: RedisClusterType,
    events: ConnectionEvents,
  ) {
    super(events);
    cluster.on('error', (err: unknown) => events.error(err instanceof Error ? err.message : String(err)));
    cluster.on('node-error', (err: unknown) => events.error(err instanceof Error ? err.message : String(err)));
    cluster.on('disconnect', () => (this.up = false));
    cluster.on('connect', () => (this.up = true));
  }

  get commands(): ValkeyCommands {
    return this.cluster as unknown as ValkeyCommands;
  }

  get connected(): boolean {
    return this.open && this.up && this.cluster.isOpen;
  }

  protected async start(): Promise<void> {
    await this.cluster.connect();
    // A cluster still being formed answers with none or part of its slots: the client would keep that map
    // (nothing makes it ask again), and every command for a slot without a node would fail. Not connected until
    // every slot has a primary; the connection is tried again CONNECT_RETRY_MS later.
    if (!servesEverySlot(this.cluster.slots)) {
      this.cluster.destroy();
      throw new Error('the cluster does not serve every hash slot yet');
    }
    this.up = true;
  }

  protected listen(channel: string, onMessage: (raw: string) => void): Promise<unknown> {
    return this.cluster.subscribe(channel, onMessage);
  }

  async scan(pattern: string): Promise<string[]> {
    const perPrimary = await Promise.all(this.cluster.masters.map(async (m) => scanServer((await this.cluster.nodeClient(m)) as RedisClientType, pattern)));
    return perPrimary.flat();
  }

  protected async shutdown(): Promise<void> {
    if (!this.cluster.isOpen) return;
    await closeWithin(
      () => this.cluster.close(),
      () => this.cluster.destroy(),
    );
  }
}
