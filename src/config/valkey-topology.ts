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
 * With the last two, `VALKEY_PASSWORD` is the data nodes' password and `VALKEY_SENTINEL_PASSWORD` the sentinels'.
 */
export type ValkeyTopology =
  | { mode: 'single'; url: string }
  | { mode: 'sentinel'; sentinels: HostPort[]; master: string; password?: string; sentinelPassword?: string }
  | { mode: 'cluster'; nodes: HostPort[]; password?: string };

export interface ValkeyEnv {
  VALKEY_URL?: string;
  VALKEY_SENTINELS?: string;
  VALKEY_SENTINEL_MASTER?: string;
  VALKEY_CLUSTER_NODES?: string;
  VALKEY_PASSWORD?: string;
  VALKEY_SENTINEL_PASSWORD?: string;
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
  if (s.VALKEY_PASSWORD !== undefined && s.VALKEY_SENTINELS === undefined && s.VALKEY_CLUSTER_NODES === undefined) {
    problems.push({ key: 'VALKEY_PASSWORD', rule: 'is only used with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES (VALKEY_URL carries its own)' });
  }
  if (s.VALKEY_SENTINEL_PASSWORD !== undefined && s.VALKEY_SENTINELS === undefined) {
    problems.push({ key: 'VALKEY_SENTINEL_PASSWORD', rule: 'is only used with VALKEY_SENTINELS' });
  }
  const sentinels = hostPorts('VALKEY_SENTINELS', s.VALKEY_SENTINELS, problems);
  const nodes = hostPorts('VALKEY_CLUSTER_NODES', s.VALKEY_CLUSTER_NODES, problems);
  if (set.length !== 1) return undefined;
  if (s.VALKEY_URL !== undefined) return { mode: 'single', url: s.VALKEY_URL };
  const password = s.VALKEY_PASSWORD === undefined ? {} : { password: s.VALKEY_PASSWORD };
  if (sentinels && s.VALKEY_SENTINEL_MASTER) {
    const sentinelPassword = s.VALKEY_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: s.VALKEY_SENTINEL_PASSWORD };
    return { mode: 'sentinel', sentinels, master: s.VALKEY_SENTINEL_MASTER, ...password, ...sentinelPassword };
  }
  if (nodes) return { mode: 'cluster', nodes, ...password };
  return undefined;
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
