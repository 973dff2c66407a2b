import { Readable } from 'node:stream';
import { principalFromClaims } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import type { StateStore } from '../state/state-store';
import { QueryOwnership } from './query-ownership';
import { TrinoQueryFailedException, TrinoQueryService } from './trino-query.service';
import { TrinoClient, type TrinoCall } from './trino.client';

const config = { trino: { url: 'http://trino:8080', userClaim: 'preferred_username', auth: 'none', audience: 'trino', timeoutMs: 5000 } } as AppConfig;
const principal = principalFromClaims({ sub: 's-1', iss: 'http://idp/realms/p', exp: 2e9, preferred_username: 'alice' }, 'platform-bff');
const auth = { principal, token: 'jwt' };

class MemoryState {
  readonly values = new Map<string, unknown>();
  async setJson(k: string, v: unknown) {
    this.values.set(k, v);
  }
  async getJson(k: string) {
    return this.values.get(k);
  }
}

/** A TrinoClient whose coordinator is a script of answers; it records every call. */
function scriptedClient(answers: Array<{ status: number; body: unknown }>) {
  const calls: TrinoCall[] = [];
  const client = new TrinoClient(config);
  client.send = async (call: TrinoCall) => {
    calls.push(call);
    if (call.method === 'DELETE') return { status: 204, headers: {}, body: Readable.from([]) };
    const next = answers.shift();
    if (!next) throw new Error(`unexpected call ${call.method} ${call.path}`);
    return {
      status: next.status,
      headers: { 'content-type': 'application/json' },
      body: Readable.from([Buffer.from(typeof next.body === 'string' ? next.body : JSON.stringify(next.body))]),
    };
  };
  return { client, calls };
}

const page = (token: number, data?: unknown[][], extra: Record<string, unknown> = {}) => ({
  id: 'q1',
  nextUri: `http://elsewhere:1/v1/statement/executing/q1/y${token}/${token}`,
  columns: [{ name: 'id', type: 'bigint' }],
  data,
  stats: { state: 'RUNNING', elapsedTimeMillis: token, processedRows: token * 2 },
  ...extra,
});

describe('TrinoQueryService (run to completion)', () => {
  const run = (answers: Array<{ status: number; body: unknown }>, maxRows?: number) => {
    const { client, calls } = scriptedClient(answers);
    const state = new MemoryState();
    const service = new TrinoQueryService(config, client, new QueryOwnership(state as unknown as StateStore));
    return { calls, state, result: service.run(auth, { sql: 'SELECT 1', maxRows }, new AbortController().signal) };
  };

  it('follows pages against TRINO_URL paths only, binds the owner and keeps the rows', async () => {
    const { calls, state, result } = run([
      { status: 200, body: { id: 'q1', nextUri: 'http://elsewhere:1/v1/statement/queued/q1/y0/1', stats: { state: 'QUEUED' } } },
      { status: 200, body: page(1, [[1], [2]]) },
      { status: 200, body: { ...page(2, [[3]]), nextUri: undefined, stats: { state: 'FINISHED', elapsedTimeMillis: 9, processedRows: 3 } } },
    ]);
    const out = await result;
    expect(out).toEqual({
      queryId: 'q1',
      columns: [{ name: 'id', type: 'bigint' }],
      rows: [[1], [2], [3]],
      truncated: false,
      stats: { state: 'FINISHED', queuedTimeMillis: 0, elapsedTimeMillis: 9, cpuTimeMillis: 0, processedRows: 3, processedBytes: 0, peakMemoryBytes: 0 },
    });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /v1/statement',
      'GET /v1/statement/queued/q1/y0/1?targetResultSize=1MB',
      'GET /v1/statement/executing/q1/y1/1?targetResultSize=1MB',
    ]);
    expect(calls.every((c) => c.caller?.user === 'alice')).toBe(true);
    expect(state.values.get('trino:query-owner:q1')).toEqual({ iss: principal.issuer, sub: 's-1', user: 'alice' });
  });

  it('cuts at maxRows and cancels the query', async () => {
    const { calls, result } = run([{ status: 200, body: page(1, [[1], [2], [3]]) }], 2);
    const out = await result;
    expect(out.rows).toEqual([[1], [2]]);
    expect(out.truncated).toBe(true);
    expect(calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/v1/statement/executing/q1/y1/1' });
  });

  it('fails with Trino’s error object, status by error type', async () => {
    const error = { message: 'Access Denied: nope', errorCode: 4, errorName: 'PERMISSION_DENIED', errorType: 'USER_ERROR' };
    const { result } = run([{ status: 200, body: { id: 'q1', stats: { state: 'FAILED' }, error } }]);
    const failure = await result.catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TrinoQueryFailedException);
    const f = failure as TrinoQueryFailedException;
    expect(f.getStatus()).toBe(403);
    expect(f.body('/trino/query', 'r1')).toEqual(expect.objectContaining({ reason: 'upstream_error', detail: 'Access Denied: nope', queryId: 'q1', error }));
  });

  it('retries transient 503s, and maps a refused statement to 400 with Trino’s text', async () => {
    const retried = run([
      { status: 503, body: '' },
      { status: 200, body: { ...page(1, [[1]]), nextUri: undefined, stats: { state: 'FINISHED' } } },
    ]);
    expect((await retried.result).rows).toEqual([[1]]);
    const refused = run([{ status: 400, body: 'Schema is set but catalog is not' }]);
    await expect(refused.result).rejects.toMatchObject({ reason: 'validation_failed', detail: 'Schema is set but catalog is not' });
    const garbage = run([{ status: 200, body: '{"id":' }]);
    await expect(garbage.result).rejects.toMatchObject({ reason: 'upstream_unavailable' });
  });
});
