import { readCaFile } from './ca-file';
import type { ConfigProblem } from './load-config';

/** One Valkey node or sentinel. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * How the BFF reaches Valkey, as teams run it (at most one is set):
 * - `VALKEY_URL`: one server (or a proxy in front of several);
 * - `VALKEY_SENTINELS` + `VALKEY_SENTINEL_MASTER`: the primary that Sentinel names, followed across failovers;
 * - `VALKEY_CLUSTER_NODES`: a Valkey cluster (cluster mode; any reachable nodes, the rest is discovered).
 * With the last two, `VALKEY_USERNAME` + `VALKEY_PASSWORD` are the data nodes' ACL user (or the password alone, the
 * default user's), `VALKEY_SENTINEL_USERNAME` + `VALKEY_SENTINEL_PASSWORD` the sentinels', and `VALKEY_TLS=true` turns
 * on TLS to all of them; `VALKEY_URL` says both itself (`rediss://user:password@host:port`). `VALKEY_CA_FILE`: the CA
 * certificates TLS trusts (instead of the system's).
 */
export type ValkeyTopology =
  | { mode: 'single'; url: string; tls?: ValkeyTls }
  | ({ mode: 'sentinel'; sentinels: HostPort[]; master: string; sentinelUsername?: string; sentinelPassword?: string } & ValkeyNodeAccess)
  | ({ mode: 'cluster'; nodes: HostPort[] } & ValkeyNodeAccess);

/** TLS to Valkey; `ca`: the PEM certificates trusted instead of the system's. */
export interface ValkeyTls {
  ca?: string;
}

/** How the data nodes of Sentinel or a cluster are reached: their ACL user (or the default user's password) and TLS. */
export interface ValkeyNodeAccess {
  username?: string;
  password?: string;
  tls?: ValkeyTls;
}

export interface ValkeyEnv {
  VALKEY_URL?: string;
  VALKEY_SENTINELS?: string;
  VALKEY_SENTINEL_MASTER?: string;
  VALKEY_CLUSTER_NODES?: string;
  VALKEY_USERNAME?: string;
  VALKEY_PASSWORD?: string;
  VALKEY_SENTINEL_USERNAME?: string;
  VALKEY_SENTINEL_PASSWORD?: string;
  VALKEY_TLS?: boolean;
  VALKEY_CA_FILE?: string;
}

const TOPOLOGY_KEYS = ['VALKEY_URL', 'VALKEY_SENTINELS', 'VALKEY_CLUSTER_NODES'] as const;

/** The topology chosen by the environment (undefined: no Valkey, state in memory); each mistake added to `problems`. */
export function valkeyTopology(s: ValkeyEnv, problems: ConfigProblem[]): ValkeyTopology | undefined {
  const set = TOPOLOGY_KEYS.filter((k) => s[k] !== undefined);
  if (set.length > 1) {
    problems.push({ key: set.join(', '), rule: `set at most one of ${TOPOLOGY_KEYS.join(', ')} (one server, Sentinel or a cluster)` });
  }
  if (s.VALKEY_SENTINEL_MASTER !== undefined && s.VALKEY_SENTINELS === undefined) {
    problems.push({ key: 'VALKEY_SENTINEL_MASTER', rule: 'is only used with VALKEY_SENTINELS' });
  }
  if (s.VALKEY_SENTINELS !== undefined && s.VALKEY_SENTINEL_MASTER === undefined) {
    problems.push({ key: 'VALKEY_SENTINEL_MASTER', rule: 'is required with VALKEY_SENTINELS (the name the sentinels monitor the primary by)' });
  }
  const nodeLists = s.VALKEY_SENTINELS !== undefined || s.VALKEY_CLUSTER_NODES !== undefined;
  for (const key of ['VALKEY_USERNAME', 'VALKEY_PASSWORD'] as const) {
    if (s[key] !== undefined && !nodeLists) {
      problems.push({ key, rule: 'is only used with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES (VALKEY_URL carries its own: rediss://user:password@host:port)' });
    }
  }
  for (const key of ['VALKEY_SENTINEL_USERNAME', 'VALKEY_SENTINEL_PASSWORD'] as const) {
    if (s[key] !== undefined && s.VALKEY_SENTINELS === undefined) problems.push({ key, rule: 'is only used with VALKEY_SENTINELS' });
  }
  if (s.VALKEY_USERNAME !== undefined && s.VALKEY_PASSWORD === undefined) {
    problems.push({ key: 'VALKEY_PASSWORD', rule: 'is required with VALKEY_USERNAME (the ACL user’s password)' });
  }
  if (s.VALKEY_SENTINEL_USERNAME !== undefined && s.VALKEY_SENTINEL_PASSWORD === undefined) {
    problems.push({ key: 'VALKEY_SENTINEL_PASSWORD', rule: 'is required with VALKEY_SENTINEL_USERNAME (the ACL user’s password)' });
  }
  if (s.VALKEY_TLS !== undefined && !nodeLists) {
    problems.push({ key: 'VALKEY_TLS', rule: 'is only used with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES (VALKEY_URL says it itself: rediss://)' });
  }
  const urlTls = s.VALKEY_URL !== undefined && /^rediss:/i.test(s.VALKEY_URL);
  const ca = readCaFile('VALKEY_CA_FILE', s.VALKEY_CA_FILE, problems);
  if (s.VALKEY_CA_FILE !== undefined && !urlTls && !(nodeLists && s.VALKEY_TLS === true)) {
    problems.push({
      key: 'VALKEY_CA_FILE',
      rule: 'is only used with TLS: a rediss:// VALKEY_URL, or VALKEY_TLS=true with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES',
    });
  }
  const sentinels = hostPorts('VALKEY_SENTINELS', s.VALKEY_SENTINELS, problems);
  const nodes = hostPorts('VALKEY_CLUSTER_NODES', s.VALKEY_CLUSTER_NODES, problems);
  if (set.length !== 1) return undefined;
  const tls = ca === undefined ? {} : { ca };
  if (s.VALKEY_URL !== undefined) return { mode: 'single', url: s.VALKEY_URL, ...(urlTls ? { tls } : {}) };
  const access: ValkeyNodeAccess = defined({ username: s.VALKEY_USERNAME, password: s.VALKEY_PASSWORD, tls: s.VALKEY_TLS === true ? tls : undefined });
  if (sentinels && s.VALKEY_SENTINEL_MASTER) {
    const sentinelAuth = defined({ sentinelUsername: s.VALKEY_SENTINEL_USERNAME, sentinelPassword: s.VALKEY_SENTINEL_PASSWORD });
    return { mode: 'sentinel', sentinels, master: s.VALKEY_SENTINEL_MASTER, ...access, ...sentinelAuth };
  }
  if (nodes) return { mode: 'cluster', nodes, ...access };
  return undefined;
}

/** `o` without its undefined fields. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A comma list of host:port (port 1-65535); undefined when unset or wrong (then a problem is added). */
function hostPorts(key: string, raw: string | undefined, problems: ConfigProblem[]): HostPort[] | undefined {
  if (raw === undefined) return undefined;
  const out: HostPort[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    const m = /^([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      problems.push({ key, rule: 'must be a comma-separated list of host:port (port 1-65535)' });
      return undefined;
    }
    out.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  return out;
}
