import { ProblemException } from '../common/problem';

/**
 * What the in-memory StateStore does when a kind is full and a new key of it is written:
 * - `evict-oldest`: the oldest key of the kind is dropped (a cache, a short-lived credential or
 *   counter whose loss costs a retry, not a wrong decision);
 * - `refuse`: the write fails with StateFull (data the BFF cannot lose or recompute, or whose loss
 *   would lift a limit: agents, grants, quotas, pending logins).
 * With Valkey, memory is only a copy of recent writes: any kind may then drop its oldest copy
 * (Valkey has it), and `refuse` applies only to keys written during an outage.
 */
export type OnFull = 'evict-oldest' | 'refuse';

export interface KeyKind {
  /** Stable name (logs, errors, tests). */
  name: string;
  /** Keys of the kind start with this (the longest matching prefix wins). */
  prefix: string;
  /** Keys of the kind held in memory at most. */
  max: number;
  onFull: OnFull;
  /** A key of the kind as the code writes it (the unit tests check each kind with it). */
  example: string;
}

const H = 'a'.repeat(64);

/** Every kind of key the BFF writes to its StateStore, with its bound in memory. */
export const KEY_KINDS: readonly KeyKind[] = Object.freeze([
  { name: 'pending-login', prefix: 'session:login:', max: 10_000, onFull: 'refuse', example: `session:login:${H}` },
  { name: 'login-counter', prefix: 'session:login-count:', max: 100_000, onFull: 'evict-oldest', example: 'session:login-count:client:127.0.0.1:2950000' },
  { name: 'session-refresh-lease', prefix: 'session:refresh:', max: 100_000, onFull: 'evict-oldest', example: `session:refresh:${H}` },
  { name: 'session', prefix: 'session:', max: 100_000, onFull: 'evict-oldest', example: `session:${H}` },
  { name: 'agent', prefix: 'agents:agent:', max: 100_000, onFull: 'refuse', example: 'agents:agent:0b0e5a3c-7d42-4f7b-9a53-1f0c2d3e4f5a' },
  { name: 'agent-owner-index', prefix: 'agents:owner:', max: 100_000, onFull: 'refuse', example: `agents:owner:${H}` },
  { name: 'agent-index', prefix: 'agents:all', max: 1, onFull: 'refuse', example: 'agents:all' },
  { name: 'agent-tombstone', prefix: 'agents:deleted:', max: 100_000, onFull: 'evict-oldest', example: 'agents:deleted:0b0e5a3c-7d42-4f7b-9a53-1f0c2d3e4f5a' },
  { name: 'ws-ticket', prefix: 'agents:ws-ticket:', max: 100_000, onFull: 'evict-oldest', example: `agents:ws-ticket:${H}` },
  { name: 'agent-quota', prefix: 'agents:quota:', max: 100_000, onFull: 'refuse', example: `agents:quota:${H}:2026-12-03` },
  {
    name: 'agent-quota-reserved',
    prefix: 'agents:quota-reserved:',
    max: 100_000,
    onFull: 'refuse',
    example: `agents:quota-reserved:{agents:quota:${H}:2026-12-03}`,
  },
  { name: 'rate-limit', prefix: 'ratelimit:', max: 100_000, onFull: 'evict-oldest', example: 'ratelimit:default:iss|sub:29500000' },
  { name: 'trino-query-owner', prefix: 'trino:query-owner:', max: 100_000, onFull: 'evict-oldest', example: 'trino:query-owner:20261203_063000_00001_abcde' },
  { name: 'mlflow-grant', prefix: 'mlflow:grant:', max: 1_000_000, onFull: 'refuse', example: 'mlflow:grant:12:alice' },
  { name: 'mlflow-grantees', prefix: 'mlflow:grantees:', max: 1_000_000, onFull: 'refuse', example: 'mlflow:grantees:12' },
  { name: 'mlflow-run-experiment', prefix: 'mlflow:run-experiment:', max: 100_000, onFull: 'evict-oldest', example: `mlflow:run-experiment:${H.slice(0, 32)}` },
  {
    name: 'mlflow-model-experiment',
    prefix: 'mlflow:model-experiment:',
    max: 100_000,
    onFull: 'evict-oldest',
    example: `mlflow:model-experiment:m-${H.slice(0, 32)}`,
  },
  // Revocations (src/auth/revocation.service.ts): refused when full, never dropped (a dropped one would let a logged-out session back in).
  { name: 'revoked-session', prefix: 'revoked:session:', max: 100_000, onFull: 'refuse', example: `revoked:session:${H}` },
  { name: 'revoked-user', prefix: 'revoked:user:', max: 100_000, onFull: 'refuse', example: `revoked:user:${H}` },
  { name: 'logout-token-jti', prefix: 'logout-token:jti:', max: 100_000, onFull: 'refuse', example: `logout-token:jti:${H}` },
  // What belongs to one identity-provider session, to be ended with it.
  { name: 'session-by-sid', prefix: 'session:sid:', max: 100_000, onFull: 'evict-oldest', example: `session:sid:${H}` },
  { name: 'trino-session-queries', prefix: 'trino:session-queries:', max: 100_000, onFull: 'evict-oldest', example: `trino:session-queries:${H}` },
  // Anything not listed above (a key added without a row here): bounded all the same.
  { name: 'other', prefix: '', max: 10_000, onFull: 'evict-oldest', example: 'unlisted:key' },
] satisfies KeyKind[]);

/** The table with some kinds' bounds replaced (configuration, tests). */
export function keyKinds(max: Readonly<Record<string, number>> = {}): KeyKind[] {
  for (const name of Object.keys(max)) if (!KEY_KINDS.some((k) => k.name === name)) throw new Error(`no key kind ${name}`);
  return KEY_KINDS.map((k) => (max[k.name] === undefined ? { ...k } : { ...k, max: max[k.name] }));
}

/** Resolves a key to its kind: the longest matching prefix, decided once per prefix length. */
export class KeyKindIndex {
  private readonly byLength: KeyKind[];

  constructor(readonly kinds: readonly KeyKind[]) {
    this.byLength = [...kinds].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  of(key: string): KeyKind {
    for (const k of this.byLength) if (key.startsWith(k.prefix)) return k;
    throw new Error('no fallback key kind'); // the table always ends with prefix ''
  }
}

/** A write refused because its kind holds its maximum of keys in memory. */
export class StateFull extends ProblemException {
  constructor(readonly kind: KeyKind) {
    super(503, 'upstream_unavailable', `the BFF's in-memory state holds its maximum of ${kind.max} ${kind.name} entries; retry later (or configure VALKEY_URL)`);
  }
}
