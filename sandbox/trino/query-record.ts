/** A query through its life in the coordinator: its state, pages, effects on the session, and the protocol's slugs. */
import * as crypto from 'node:crypto';
import type { Column, TableSource } from './columns';
import type { Failure } from './errors';
import type { SessionInfo } from './session';
import type { Stmt } from './sql-ast';

export type QueryState = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED';

export interface Effects {
  setCatalog?: string;
  setSchema?: string;
  setSession?: [string, string];
  clearSession?: string;
  addedPrepare?: [string, string];
  deallocatedPrepare?: string;
  startedTransactionId?: string;
  clearTransactionId?: boolean;
}

export type Outcome =
  | { kind: 'rows'; queryType: string; source: TableSource; total: number; delayMs?: number }
  | { kind: 'update'; queryType: string; updateType: string; effects: Effects }
  | { kind: 'error'; stage: 'dispatch' | 'execute'; failure: Failure };

export interface Page {
  state: QueryState;
  columns?: Column[];
  data?: unknown[][];
  nextToken: number | null;
  partialCancel: boolean;
  failure?: Failure;
  updateType?: string;
  headers: Record<string, string>;
}

export interface QueryRecord {
  id: string;
  slugKey: Buffer;
  sql: string;
  session: SessionInfo;
  /** Parse result, a query for the SQL engine, or dispatch-time failure, decided at POST. */
  pending: { stmt: Stmt } | { engine: true } | { failure: Failure };
  outcome?: Outcome;
  state: QueryState;
  failure?: Failure;
  createTime: number;
  dispatchTime?: number;
  endTime?: number;
  lastHeartbeat: number;
  queuedLastToken: number;
  exec: { lastToken: number; nextToken: number | null; last?: Page };
  cursor: number;
  processedRows: number;
  waiters: Set<() => void>;
  effects?: Effects;
  updateType?: string;
  queryType: string;
}

export const QUEUED_QUERY = 0;
export const EXECUTING_QUERY = 1;

export function makeSlug(key: Buffer, context: number, token: number): string {
  // Guava Hasher.putInt/putLong are little-endian.
  const buf = Buffer.alloc(12);
  buf.writeInt32LE(context, 0);
  buf.writeBigInt64LE(BigInt(token), 4);
  return 'y' + crypto.createHmac('sha1', key).update(buf).digest('hex');
}

export function slugValid(q: QueryRecord, context: number, slug: string, token: number): boolean {
  const expected = Buffer.from(makeSlug(q.slugKey, context, token));
  const given = Buffer.from(slug);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

export function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1e6).toFixed(2)}ns`;
  if (ms < 1000) return `${ms.toFixed(2)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(2)}s`;
  const m = s / 60;
  if (m < 60) return `${m.toFixed(2)}m`;
  const h = m / 60;
  if (h < 24) return `${h.toFixed(2)}h`;
  return `${(h / 24).toFixed(2)}d`;
}

/** airlift Duration, e.g. `1s`, `250ms`, `1.50m`. */
export function parseDuration(s: string | null): number | undefined {
  if (!s) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*$/.exec(s);
  if (!m) return undefined;
  const factor: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };
  return Number(m[1]) * factor[m[2]];
}
