import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context';
import { problem, ProblemException, type ProblemBody } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DEFAULT_MAX_ROWS, type TrinoQueryRequestDto, type TrinoQueryResultDto, type TrinoQueryStatsDto } from './dto/trino-query.dto';
import type { TrinoColumnDto } from './dto/query-results.dto';
import { QUERY_ID, QueryOwnership } from './query-ownership';
import { trinoCallerFor } from './trino-headers';
import { parseObject } from './trino-protocol.service';
import { ClientGoneError, TrinoClient, type TrinoCall, type TrinoCaller } from './trino.client';
import { protocolPath } from './uri-rewriter';

/** One page is read whole to pick rows from it; Trino sizes pages by targetResultSize (asked: 1 MB). */
const MAX_PAGE_BYTES = 32 * 1024 * 1024;
const PAGE_TARGET = '?targetResultSize=1MB';
/** Trino's transient statuses (from load balancers in front of it): retried after 100 ms, a few times. */
const TRANSIENT = new Set([502, 503, 504]);
const TRANSIENT_RETRIES = 3;
const ERROR_TEXT_LIMIT = 4096;

type Page = Record<string, unknown>;

/**
 * A query Trino failed: answered as problem+json whose `error` member is Trino's QueryError exactly as
 * the coordinator sent it. USER_ERROR is the caller's (400; 403 for PERMISSION_DENIED),
 * INSUFFICIENT_RESOURCES a 503, anything else the coordinator's (502).
 */
export class TrinoQueryFailedException extends ProblemException {
  constructor(
    readonly trinoError: Record<string, unknown>,
    readonly queryId: string,
  ) {
    super(statusOf(trinoError), 'upstream_error', typeof trinoError.message === 'string' ? trinoError.message : 'the query failed');
  }

  override body(instance?: string, requestId?: string): ProblemBody & { queryId: string; error: Record<string, unknown> } {
    return { ...super.body(instance, requestId), queryId: this.queryId, error: this.trinoError };
  }
}

function statusOf(error: Record<string, unknown>): number {
  if (error.errorType === 'USER_ERROR') return error.errorName === 'PERMISSION_DENIED' ? 403 : 400;
  if (error.errorType === 'INSUFFICIENT_RESOURCES') return 503;
  return 502;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * POST /trino/query: for frontends that do not speak the protocol. Submits as the caller, follows the
 * pages, keeps at most maxRows rows (the only thing held: one page is parsed at a time), cancels the
 * query when it has more, when the client goes away, or when it outlives TRINO_TIMEOUT_MS.
 */
@Injectable()
export class TrinoQueryService {
  private readonly log = new Logger('TrinoQuery');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly client: TrinoClient,
    private readonly ownership: QueryOwnership,
  ) {}

  async run(auth: AuthContext, input: TrinoQueryRequestDto, signal: AbortSignal): Promise<TrinoQueryResultDto> {
    if (input.schema !== undefined && input.catalog === undefined) {
      throw problem.badRequest('schema needs catalog', [{ field: 'schema', message: 'schema can only be given with catalog' }]);
    }
    const caller = trinoCallerFor(auth, this.config.trino.userClaim);
    const maxRows = input.maxRows ?? DEFAULT_MAX_ROWS;
    const deadline = Date.now() + this.config.trino.timeoutMs;
    const headers: Record<string, string> = { 'x-trino-source': 'platform-bff' };
    if (input.catalog !== undefined) headers['x-trino-catalog'] = input.catalog;
    if (input.schema !== undefined) headers['x-trino-schema'] = input.schema;

    let page = await this.page({ method: 'POST', path: '/v1/statement', headers, body: input.sql, caller, signal }, deadline);
    const queryId = page.id;
    if (typeof queryId !== 'string' || !QUERY_ID.test(queryId)) throw problem.badGateway('the Trino coordinator answered a malformed QueryResults');
    await this.ownership.bind(queryId, auth.principal, caller.user);

    let columns: TrinoColumnDto[] = [];
    const rows: unknown[][] = [];
    let truncated = false;
    let next: string | undefined;
    try {
      for (;;) {
        if (page.error && typeof page.error === 'object') throw new TrinoQueryFailedException(page.error as Record<string, unknown>, queryId);
        if (Array.isArray(page.columns)) columns = page.columns.map((c: { name?: unknown; type?: unknown }) => ({ name: String(c?.name), type: String(c?.type) }));
        if (Array.isArray(page.data)) {
          const room = maxRows - rows.length;
          const take = Math.min(room, page.data.length);
          for (let i = 0; i < take; i++) rows.push(page.data[i] as unknown[]);
          if (page.data.length > room) truncated = true;
        }
        const uri = typeof page.nextUri === 'string' ? protocolPath(page.nextUri) : undefined;
        next = uri?.startsWith('/v1/statement/') ? uri.split('?')[0] : undefined;
        if (!next) break;
        if (truncated) {
          await this.cancel(next, caller);
          next = undefined;
          break;
        }
        if (Date.now() >= deadline) throw problem.gatewayTimeout(`the query did not finish within ${this.config.trino.timeoutMs} ms`);
        page = await this.page({ method: 'GET', path: next + PAGE_TARGET, caller, signal }, deadline);
      }
    } catch (err) {
      if (next && !(err instanceof TrinoQueryFailedException)) {
        this.log.log({ event: 'trino.query_cancelled', queryId, why: err instanceof ClientGoneError ? 'client_gone' : 'failed' });
        void this.cancel(next, caller);
      }
      throw err;
    }

    const stats = (page.stats ?? {}) as Record<string, unknown>;
    const result: TrinoQueryResultDto = { queryId, columns, rows, truncated, stats: statsOf(stats) };
    if (typeof page.updateType === 'string') result.updateType = page.updateType;
    if (typeof page.updateCount === 'number') result.updateCount = page.updateCount;
    return result;
  }

  /** One protocol answer, parsed; transient statuses retried; anything else not 200 is a problem. */
  private async page(call: TrinoCall, deadline: number): Promise<Page> {
    for (let attempt = 0; ; attempt++) {
      const answer = await this.client.send(call);
      if (answer.status === 200) {
        const page = parseObject(await this.client.readBody(answer, MAX_PAGE_BYTES));
        if (!page) throw problem.badGateway('the Trino coordinator answered a malformed QueryResults');
        return page;
      }
      if (TRANSIENT.has(answer.status) && attempt < TRANSIENT_RETRIES && Date.now() + 100 < deadline) {
        this.client.discard(answer);
        await sleep(100, undefined, { signal: call.signal }).catch(() => {
          throw new ClientGoneError();
        });
        continue;
      }
      const text = (await this.client.readBody(answer, ERROR_TEXT_LIMIT).catch(() => Buffer.alloc(0))).toString('utf8').trim();
      if (answer.status === 401 || answer.status === 407) throw problem.badGateway('the Trino coordinator refused the credentials of the BFF');
      if (answer.status >= 500) throw problem.badGateway(`the Trino coordinator answered ${answer.status}`);
      if (call.method === 'POST' && answer.status >= 400) throw problem.badRequest(text || `the Trino coordinator refused the statement (${answer.status})`);
      throw problem.badGateway(`the Trino coordinator answered ${answer.status} for a running query`);
    }
  }

  /** Cancels a running query (DELETE on its nextUri). Best effort: the query is abandoned by Trino anyway. */
  private async cancel(next: string, caller: TrinoCaller): Promise<void> {
    try {
      this.client.discard(await this.client.send({ method: 'DELETE', path: next, caller }));
    } catch {
      // Trino fails a query nobody polls (query.client.timeout).
    }
  }
}

function statsOf(s: Record<string, unknown>): TrinoQueryStatsDto {
  return {
    state: typeof s.state === 'string' ? s.state : 'UNKNOWN',
    queuedTimeMillis: num(s.queuedTimeMillis),
    elapsedTimeMillis: num(s.elapsedTimeMillis),
    cpuTimeMillis: num(s.cpuTimeMillis),
    processedRows: num(s.processedRows),
    processedBytes: num(s.processedBytes),
    peakMemoryBytes: num(s.peakMemoryBytes),
  };
}
