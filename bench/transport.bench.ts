import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { LlmProvider, type LlmChatRequest } from '../src/agent-service/llm-provider';
import type { AppConfig } from '../src/config/app-config';
import { UpstreamTransport } from '../src/common/upstream-transport';
import { TrinoClient } from '../src/trino-query/trino.client';

/**
 * The upstream transport against what it replaced (issue 19 item 2), in one process: REST calls read whole
 * (the ML-Agent / Trino Gateway / token endpoint path), streamed chat completions (the LLM provider) and
 * Trino result pages streamed by the TrinoClient (~20 kB, the size of the emulator's 1,000-row pages, and
 * Trino-sized, ~0.8 MB, sent chunked in 32 kB writes as the coordinator does), each from this build and from BENCH_BASELINE (another build's
 * dist/app, e.g. one made before the change: its fetchUpstream, its node:http LlmProvider or TrinoClient),
 * alternated A B B A over BENCH_ROUNDS rounds. A local
 * upstream answers in the same process, so both sides pay it alike. Figures: wall time and process CPU per
 * request, averaged over the rounds.
 *
 *   npm run build && BENCH_BASELINE=<other build>/dist/app node dist/app/bench/transport.bench.js
 *
 * BENCH_REQUESTS (4000 REST calls per side and round), BENCH_TURNS (400 streamed turns), BENCH_EVENTS (200
 * events per turn), BENCH_PAGES (2000 small and 200 large Trino pages, 4 at a time), BENCH_CONCURRENCY (50),
 * BENCH_ROUNDS (3).
 */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const TURNS = Number(process.env.BENCH_TURNS ?? 400);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAGES = Number(process.env.BENCH_PAGES ?? 2000);
/** Pages of a query are asked one after another; a few queries at a time. */
const PAGE_CONCURRENCY = 4;
const BASELINE = process.env.BENCH_BASELINE;

const JSON_BODY = JSON.stringify({ catalogs: Array.from({ length: 60 }, (_, i) => `catalog_${i}`) });
const chunk = (content: string) => `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;
/** A QueryResults page of `rows` rows of TPC-H orders-like data, as the coordinator writes it. */
const page = (rows: number) =>
  Buffer.from(
    JSON.stringify({
      id: 'q',
      infoUri: 'http://coordinator:8080/ui/query.html?q',
      nextUri: 'http://coordinator:8080/v1/statement/executing/q/y/2',
      columns: [{ name: 'orderkey', type: 'bigint' }],
      data: Array.from({ length: rows }, (_, i) => [i, 'O', 173665.47, '1996-01-02', '5-LOW', 'Clerk#000000951', 0, 'nstructions sleep furiously among ']),
      stats: { state: 'RUNNING' },
    }),
  );
const PAGES_BY_PATH: Record<string, Buffer> = { '/v1/statement/executing/small': page(200), '/v1/statement/executing/large': page(8000) };
const PAGE_BYTES = { small: PAGES_BY_PATH['/v1/statement/executing/small'].length, large: PAGES_BY_PATH['/v1/statement/executing/large'].length };
const STREAM = `${Array.from({ length: EVENTS }, (_, i) => chunk(`word${i} `)).join('')}data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;

function startUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = req.url ? PAGES_BY_PATH[req.url] : undefined;
      if (body) {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < body.length; i += 32 * 1024) res.write(body.subarray(i, i + 32 * 1024));
        res.end();
        return;
      }
      if (req.url === '/v1/chat/completions') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // In ten writes: the provider reads it as it arrives.
        const step = Math.ceil(STREAM.length / 10);
        for (let i = 0; i < STREAM.length; i += step) res.write(STREAM.slice(i, i + step));
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_BODY) }).end(JSON_BODY);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

type Call = () => Promise<unknown>;
interface Side {
  name: string;
  rest: Call;
  turn: Call;
  smallPage: Call;
  largePage: Call;
}

async function run(call: Call, total: number, concurrency = CONCURRENCY): Promise<{ wallMs: number; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let left = total;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await call();
    }),
  );
  const used = process.cpuUsage(cpu);
  return { wallMs: performance.now() - start, cpuUs: used.user + used.system };
}

function side(name: string, root: string, url: string): Side {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const config = { llm: { baseUrl: `${url}/v1`, timeoutMs: 10_000, modelSettings: {} } } as unknown as AppConfig;
  const Provider = require(join(root, 'src/agent-service/llm-provider')).LlmProvider as typeof LlmProvider;
  const provider = new Provider(config);
  const request: LlmChatRequest = { model: 'bench', messages: [{ role: 'user', content: 'hello' }], temperature: 0, maxTokens: 100 };
  const turn = () => provider.stream(request, { onDelta: () => undefined });
  const headers = { accept: 'application/json', authorization: 'Bearer bench' };
  let rest: Call;
  try {
    const { fetchUpstream } = require(join(root, 'src/common/upstream-fetch')) as {
      fetchUpstream: (u: string, url: string, init: object, ms: number) => Promise<unknown>;
    };
    rest = () => fetchUpstream('bench', `${url}/trino/catalogs`, { method: 'GET', headers }, 10_000);
  } catch {
    const { UpstreamTransport: Transport } = require(join(root, 'src/common/upstream-transport')) as { UpstreamTransport: typeof UpstreamTransport };
    const transport = new Transport({ name: 'bench', headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
    rest = () => transport.fetchText({ method: 'GET', url: `${url}/trino/catalogs`, headers });
  }
  const Trino = require(join(root, 'src/trino-query/trino.client')).TrinoClient as typeof TrinoClient;
  const trino = new Trino({ trino: { url, auth: 'none', timeoutMs: 10_000 } } as AppConfig);
  /* eslint-enable @typescript-eslint/no-require-imports */
  const pageOf = (path: string) => () =>
    trino.send({ method: 'GET', path, caller: { user: 'alice' } as never }).then(
      (answer) =>
        new Promise<void>((resolve, reject) => {
          answer.body.on('data', () => undefined);
          answer.body.once('end', resolve);
          answer.body.once('error', reject);
        }),
    );
  return { name, rest, turn, smallPage: pageOf('/v1/statement/executing/small'), largePage: pageOf('/v1/statement/executing/large') };
}

async function main(): Promise<void> {
  const { server, url } = await startUpstream();
  const sides = [side('this build', join(__dirname, '..'), url), ...(BASELINE ? [side('baseline', BASELINE, url)] : [])];
  type Totals = Record<'rest' | 'turn' | 'smallPage' | 'largePage', { wallMs: number; cpuUs: number }>;
  const totals = new Map<string, Totals>();
  const zero = () => ({ wallMs: 0, cpuUs: 0 });
  for (const s of sides) {
    await run(s.rest, CONCURRENCY * 4); // warm-up: connections, JIT
    await run(s.turn, CONCURRENCY);
    await run(s.smallPage, PAGES / 10, PAGE_CONCURRENCY);
    await run(s.largePage, PAGES / 100, PAGE_CONCURRENCY);
    totals.set(s.name, { rest: zero(), turn: zero(), smallPage: zero(), largePage: zero() });
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const t = totals.get(s.name)!;
      for (const [kind, call, n, concurrency] of [
        ['rest', s.rest, REQUESTS, CONCURRENCY],
        ['turn', s.turn, TURNS, CONCURRENCY],
        ['smallPage', s.smallPage, PAGES, PAGE_CONCURRENCY],
        ['largePage', s.largePage, PAGES / 10, PAGE_CONCURRENCY],
      ] as const) {
        const r = await run(call, n, concurrency);
        t[kind].wallMs += r.wallMs / ROUNDS;
        t[kind].cpuUs += r.cpuUs / ROUNDS;
      }
    }
  }
  console.log(
    `node ${process.version}, load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `| side | REST calls/s | REST CPU µs/call | turns/s (${EVENTS} events) | CPU µs/turn | Trino ${PAGE_BYTES.small} B pages: CPU µs/page | ${PAGE_BYTES.large} B pages: CPU µs/page |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [name, t] of totals) {
    console.log(
      `| ${name} | ${Math.round((REQUESTS / t.rest.wallMs) * 1000)} | ${Math.round(t.rest.cpuUs / REQUESTS)} | ${Math.round((TURNS / t.turn.wallMs) * 1000)} | ${Math.round(t.turn.cpuUs / TURNS)} | ${Math.round(t.smallPage.cpuUs / PAGES)} | ${Math.round(t.largePage.cpuUs / (PAGES / 10))} |`,
    );
  }
  server.closeAllConnections();
  server.close();
  process.exit(0);
}

void main();
