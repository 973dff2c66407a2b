import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { LlmProvider, type LlmChatRequest } from '../src/agent-service/llm-provider';
import type { AppConfig } from '../src/config/app-config';
import { UpstreamTransport } from '../src/common/upstream-transport';

/**
 * The upstream transport against what it replaced (issue 19 item 2), in one process: REST calls read whole
 * (the ML-Agent / Trino Gateway / token endpoint path) and streamed chat completions (the LLM provider),
 * each from this build and from BENCH_BASELINE (another build's dist/app, e.g. one made before the change:
 * its fetchUpstream and its node:http LlmProvider), alternated A B B A over BENCH_ROUNDS rounds. A local
 * upstream answers in the same process, so both sides pay it alike. Figures: wall time and process CPU per
 * request, averaged over the rounds.
 *
 *   npm run build && BENCH_BASELINE=<other build>/dist/app node dist/app/bench/transport.bench.js
 *
 * BENCH_REQUESTS (4000 REST calls per side and round), BENCH_TURNS (400 streamed turns), BENCH_EVENTS (200
 * events per turn), BENCH_CONCURRENCY (50), BENCH_ROUNDS (3).
 */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const TURNS = Number(process.env.BENCH_TURNS ?? 400);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASELINE = process.env.BENCH_BASELINE;

const JSON_BODY = JSON.stringify({ catalogs: Array.from({ length: 60 }, (_, i) => `catalog_${i}`) });
const chunk = (content: string) => `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;
const STREAM = `${Array.from({ length: EVENTS }, (_, i) => chunk(`word${i} `)).join('')}data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;

function startUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
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
}

async function run(call: Call, total: number): Promise<{ wallMs: number; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let left = total;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
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
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { name, rest, turn };
}

async function main(): Promise<void> {
  const { server, url } = await startUpstream();
  const sides = [side('this build', join(__dirname, '..'), url), ...(BASELINE ? [side('baseline', BASELINE, url)] : [])];
  const totals = new Map<string, { rest: { wallMs: number; cpuUs: number }; turn: { wallMs: number; cpuUs: number } }>();
  for (const s of sides) {
    await run(s.rest, CONCURRENCY * 4); // warm-up: connections, JIT
    await run(s.turn, CONCURRENCY);
    totals.set(s.name, { rest: { wallMs: 0, cpuUs: 0 }, turn: { wallMs: 0, cpuUs: 0 } });
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const t = totals.get(s.name)!;
      for (const [kind, call, n] of [
        ['rest', s.rest, REQUESTS],
        ['turn', s.turn, TURNS],
      ] as const) {
        const r = await run(call, n);
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
  console.log(`| side | REST calls/s | REST CPU µs/call | turns/s (${EVENTS} events) | CPU µs/turn |`);
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, t] of totals) {
    console.log(
      `| ${name} | ${Math.round((REQUESTS / t.rest.wallMs) * 1000)} | ${Math.round(t.rest.cpuUs / REQUESTS)} | ${Math.round((TURNS / t.turn.wallMs) * 1000)} | ${Math.round(t.turn.cpuUs / TURNS)} |`,
    );
  }
  server.closeAllConnections();
  server.close();
  process.exit(0);
}

void main();
