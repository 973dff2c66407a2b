import * as http from 'node:http';
import WebSocket from 'ws';
import type { LlmEmulator } from '../../sandbox/llm-provider';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';
import { call, emulator, openSockets, sleep } from './reliability-support';

jest.setTimeout(60_000);

/**
 * Clients that go away mid-stream: the BFF stops the upstream work it was doing for them (no request
 * left open at the coordinator or the LLM, the query cancelled) and keeps no socket of theirs.
 */
describe('clients aborting mid-stream', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let alice: string;
  let trino: TrinoCoordinator;
  let llm: LlmEmulator;

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startTestBff({ RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
    alice = await bff.token('alice');
    trino = emulator<TrinoCoordinator>(sandbox, 'trino-coordinator');
    llm = emulator<LlmEmulator>(sandbox, 'llm-provider');
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  /** Sends a request and destroys the client socket once `abortWhen()` holds (polled every 10 ms); whether it held. */
  function abortedRequest(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    abortWhen: () => boolean,
  ): Promise<{ abortedInFlight: boolean; status?: number; text: string }> {
    return new Promise((resolve) => {
      let abortedInFlight = false;
      let status: number | undefined;
      let text = '';
      const poll = setInterval(() => {
        if (abortWhen()) {
          abortedInFlight = true;
          req.destroy();
        }
      }, 2);
      const req = http.request(`${bff.url}${path}`, { method, agent: false, headers: { authorization: `Bearer ${alice}`, ...headers } }, (res) => {
        status = res.statusCode;
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.on('close', () => {
        clearInterval(poll);
        resolve({ abortedInFlight, status, text });
      });
      req.end(body);
    });
  }

  const settled = async (what: string) => {
    await waitUntil(async () => trino.openRequests() === 0 && (await openSockets(bff)) === 0 && llm.openRequests() === 0, {
      timeoutMs: 5000,
      what: `${what}: no upstream request and no client socket left open`,
    });
  };

  it('Trino protocol: a client leaving during a long-poll nextUri page leaves nothing open', async () => {
    const first = await call(bff.url, 'POST', '/v1/statement', {
      token: alice,
      body: 'SELECT * FROM sandbox.gen.sleep_20000',
      headers: { 'content-type': 'text/plain' },
    });
    expect(first.status).toBe(200);
    // Follow nextUri until a page is held by the coordinator (long-poll while the query runs), then leave.
    let next = first.json!.nextUri as string | undefined;
    let aborted = false;
    for (let i = 0; next && !aborted && i < 20; i++) {
      let held = 0;
      const r = await abortedRequest('GET', new URL(next).pathname, undefined, {}, () => trino.openRequests() > 0 && ++held > 25);
      aborted = r.abortedInFlight;
      if (!aborted) next = (JSON.parse(r.text) as { nextUri?: string }).nextUri;
    }
    expect(aborted).toBe(true);
    await settled('nextUri long-poll');
    // The query stays the client's: a Trino client may retry its nextUri (Trino keeps the query until abandoned).
    const del = await call(bff.url, 'DELETE', `/v1/query/${first.json!.id as string}`, { token: alice });
    expect(del.status).toBe(204);
  });

  it('POST /trino/query: a client leaving while the query runs cancels it at the coordinator', async () => {
    const before = trino.activeQueries();
    let held = 0;
    const r = await abortedRequest(
      'POST',
      '/trino/query',
      JSON.stringify({ sql: 'SELECT * FROM sandbox.gen.sleep_20000' }),
      { 'content-type': 'application/json' },
      () => trino.activeQueries() > before && ++held > 20,
    );
    expect(r.abortedInFlight).toBe(true);
    await settled('/trino/query abort');
    await waitUntil(() => trino.activeQueries() <= before, { timeoutMs: 5000, what: 'the abandoned query to be cancelled' });
  });

  it('POST /trino/query streaming a large result: a client leaving while the BFF pages stops the paging', async () => {
    const before = trino.activeQueries();
    const pagesOf = () => trino.requests.filter((q) => q.path.startsWith('/v1/statement/executing/')).length;
    const pagesBefore = pagesOf();
    // Aborted once the BFF is paging through the result (two pages fetched).
    const r = await abortedRequest(
      'POST',
      '/trino/query',
      JSON.stringify({ sql: 'SELECT * FROM sandbox.gen.rows_1000000', maxRows: 10000 }),
      { 'content-type': 'application/json' },
      () => pagesOf() - pagesBefore >= 2,
    );
    expect(r.abortedInFlight).toBe(true);
    await settled('/trino/query large result abort');
    await waitUntil(() => trino.activeQueries() <= before, { timeoutMs: 5000, what: 'the abandoned query to be cancelled' });
    const pages = pagesOf();
    await sleep(300);
    // Paging stopped (no page fetched for nobody), well before the 10 pages of the 10,000 rows asked for.
    expect(pagesOf()).toBe(pages);
    expect(pages - pagesBefore).toBeLessThan(10);
  });

  it('LLM stream: a WebSocket client vanishing mid-answer stops the provider request', async () => {
    const created = await call(bff.url, 'POST', '/api/agents', { token: alice, json: { name: 'Abort' } });
    expect(created.status).toBe(201);
    llm.setChunkDelayMs(50);
    const ws = new WebSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${created.json!.id as string}/react?access-token=${alice}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const firstDelta = new Promise<void>((resolve) => ws.on('message', (d) => (JSON.parse(d.toString()) as { type: string }).type === 'delta' && resolve()));
    ws.send(JSON.stringify({ type: 'user_message', content: 'tell me a long story about a lot of tables and columns and rows' }));
    await firstDelta;
    expect(llm.openRequests()).toBe(1);
    ws.terminate(); // no close frame: the TCP connection just goes away
    await settled('LLM stream abort');
  });
});
