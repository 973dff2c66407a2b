import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitUntil } from './net';
import { startRedis, type RedisOptions, type RedisServer } from './redis';

/*
 * Highly available Valkey as teams run it, from real redis-server processes on loopback: a primary with a
 * replica watched by three Sentinels, and a cluster of three primaries. Every process is stopped by its pid.
 */

const run = promisify(execFile);

/** An ACL user of the data nodes or of the sentinels. */
export interface AclUser {
  name: string;
  password: string;
}

/** How the BFF is to reach the servers, as production runs them: TLS (clients verify with the CA) and ACL users. */
export interface HaAccess {
  tls?: RedisOptions['tls'];
  /** The data nodes' user the BFF logs in as (VALKEY_USERNAME / VALKEY_PASSWORD) instead of the default user. */
  user?: AclUser;
}

/** The port a client reaches a server on: its TLS port when it has one. */
export const clientPort = (s: RedisServer): number => s.tlsPort ?? s.port;

/** The BFF's environment for the data nodes' access (the default user's password when no ACL user is given). */
function accessEnv(access: HaAccess, password: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (access.user) Object.assign(env, { VALKEY_USERNAME: access.user.name, VALKEY_PASSWORD: access.user.password });
  else if (password !== undefined) env.VALKEY_PASSWORD = password;
  if (access.tls) Object.assign(env, { VALKEY_TLS: 'true', VALKEY_CA_FILE: access.tls.caFile });
  return env;
}

/** redis-cli's reply to one command, one line per element (arrays flattened). */
export async function redisCli(port: number, password: string | undefined, ...args: string[]): Promise<string[]> {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...auth, ...args], { timeout: 10_000 });
  return stdout.split('\n').filter((l) => l.length > 0);
}

/** INFO <section> as a map of its fields. */
export async function redisInfo(server: RedisServer, section: string): Promise<Map<string, string>> {
  const text = await server.command('INFO', section);
  return new Map(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

export interface SentinelSet {
  /** The name the Sentinels monitor the primary by. */
  readonly master: string;
  /** The data servers: [0] starts as the primary, [1] as its replica. */
  readonly servers: RedisServer[];
  readonly sentinels: RedisServer[];
  /** The BFF's environment for this set. */
  readonly env: { VALKEY_SENTINELS: string; VALKEY_SENTINEL_MASTER: string } & Record<string, string>;
  /** The port of the primary the Sentinels name now (a clientPort). */
  primaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * One primary, one replica, three Sentinels (quorum 2; a primary that does not answer for 1 s is down).
 * Resolves once the replica is in sync and every Sentinel knows the replica and the other two Sentinels.
 * With passwords: the data servers require `password`, the Sentinels `sentinelPassword`. With `tls`, every server and
 * Sentinel also listens with TLS and the BFF is given only TLS ports; `user` / `sentinelUser`: ACL users the BFF logs in as.
 */
export async function startSentinelSet(
  opts: { master?: string; password?: string; sentinelPassword?: string; sentinelUser?: AclUser } & HaAccess = {},
): Promise<SentinelSet> {
  const master = opts.master ?? 'bff-primary';
  const { password, sentinelPassword, tls } = opts;
  const dataAccess = { password, tls, aclUsers: opts.user ? [opts.user] : [] };
  const started: RedisServer[] = [];
  const stop = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const primary = await startRedis(dataAccess);
    started.push(primary);
    const replica = await startRedis({ ...dataAccess, args: ['--replicaof', '127.0.0.1', String(clientPort(primary))] });
    started.push(replica);
    await waitUntil(async () => (await redisInfo(replica, 'replication')).get('master_link_status') === 'up', { timeoutMs: 10_000, what: 'the replica in sync' });
    const config = [
      `sentinel monitor ${master} 127.0.0.1 ${clientPort(primary)} 2`,
      `sentinel down-after-milliseconds ${master} 1000`,
      `sentinel failover-timeout ${master} 10000`,
      `sentinel parallel-syncs ${master} 1`,
      ...(password === undefined ? [] : [`sentinel auth-pass ${master} ${password}`]),
      '',
    ].join('\n');
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startRedis({ sentinelConfig: config, password: sentinelPassword, tls, aclUsers: opts.sentinelUser ? [opts.sentinelUser] : [] });
      started.push(s);
      sentinels.push(s);
    }
    for (const s of sentinels) {
      await waitUntil(
        async () => {
          const fields = await redisCli(s.port, sentinelPassword, 'SENTINEL', 'master', master);
          const at = (name: string) => fields[fields.indexOf(name) + 1];
          return at('num-slaves') === '1' && at('num-other-sentinels') === '2';
        },
        { timeoutMs: 30_000, what: `sentinel :${s.port} to know the replica and the other sentinels` },
      );
    }
    return {
      master,
      servers: [primary, replica],
      sentinels,
      env: {
        VALKEY_SENTINELS: sentinels.map((s) => `127.0.0.1:${clientPort(s)}`).join(','),
        VALKEY_SENTINEL_MASTER: master,
        ...accessEnv(opts, password),
        ...(opts.sentinelUser
          ? { VALKEY_SENTINEL_USERNAME: opts.sentinelUser.name, VALKEY_SENTINEL_PASSWORD: opts.sentinelUser.password }
          : sentinelPassword === undefined
            ? {}
            : { VALKEY_SENTINEL_PASSWORD: sentinelPassword }),
      },
      async primaryPort() {
        const [, port] = await redisCli(sentinels[0].port, sentinelPassword, 'SENTINEL', 'get-master-addr-by-name', master);
        return Number(port);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface RedisCluster {
  /** The three primaries, each owning a third of the hash slots. */
  readonly nodes: RedisServer[];
  readonly env: { VALKEY_CLUSTER_NODES: string } & Record<string, string>;
  /** The node that owns a key's hash slot. */
  ownerOf(key: string): Promise<RedisServer>;
  stop(): Promise<void>;
}

/**
 * Three primaries in cluster mode, no replicas (`redis-cli --cluster create`), each requiring `password` when
 * given, on `ports` when given; resolves once every node says cluster_state:ok. With `tls` the nodes also listen (and
 * talk to each other) with TLS and the BFF is given only TLS ports; `user`: the ACL user the BFF logs in as.
 */
export async function startCluster(
  opts: {
    password?: string;
    ports?: number[];
    /** Runs once the nodes listen, before any slot is assigned. */ beforeSlots?: (nodes: RedisServer[]) => Promise<void>;
  } & HaAccess = {},
): Promise<RedisCluster> {
  const { password } = opts;
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const s of nodes.reverse()) await s.stop();
  };
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedis({
          port: opts.ports?.[i],
          password,
          tls: opts.tls,
          aclUsers: opts.user ? [opts.user] : [],
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', ...(opts.tls ? ['--tls-cluster', 'yes'] : [])],
        }),
      );
    }
    await opts.beforeSlots?.(nodes);
    const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
    await run('redis-cli', [...auth, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    for (const n of nodes) {
      await waitUntil(async () => (await n.command('CLUSTER', 'INFO')).includes('cluster_state:ok'), {
        timeoutMs: 20_000,
        what: `node :${n.port} cluster_state:ok`,
      });
    }
    const ordered = [...nodes];
    return {
      nodes: ordered,
      env: { VALKEY_CLUSTER_NODES: ordered.map((n) => `127.0.0.1:${clientPort(n)}`).join(','), ...accessEnv(opts, password) },
      async ownerOf(key: string) {
        // EXISTS on a node that does not own the slot answers -MOVED; the owner answers :0 or :1.
        for (const n of ordered) if ((await n.command('EXISTS', key)).startsWith(':')) return n;
        throw new Error(`no node owns the slot of ${key}`);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
