/**
 * Agent conversations at scale (issue 6, item 8): 1,000 concurrent authenticated WebSocket sessions
 * streaming from the LLM emulator through the BFF, against the same streams read from the emulator
 * directly. Reports the BFF's RSS and the latency the BFF adds per streamed frame, and the CPU every
 * process spends per streamed event (the clients, the emulator, the BFF and its event-loop thread: they
 * share the machine's cores, so a saturated core shows up as latency on either side).
 *
 * Processes, so that no two share an event loop: this one (the clients: `ws` for the BFF, node:http
 * SSE for the direct reads, plus the sandbox OIDC issuer), the LLM emulator, the BFF (built from
 * src/, logs at warn), and a real redis-server for the StateStore (agents, quotas) when installed.
 * Run from the repository root:
 *
 *   npm run build && node dist/app/bench/agents.bench.js
 *   # or, leaving dist/ alone:
 *   npx tsc -p tsconfig.build.json --outDir /tmp/bff-bench-agents && NODE_PATH=$PWD/node_modules node /tmp/bff-bench-agents/bench/agents.bench.js
 *
 * Profiles (bench/README.md): A, the default, all sessions streaming at once; B, `BENCH_TURNS=1
 * BENCH_START_SPREAD_MS=10000`, the sessions' turns spread over 10 s as users' would be.
 *
 * How the per-frame latency is measured: every streamed word is unique (`s<session>t<turn>w<word>`).
 * The emulator process records when it writes each word's SSE event, the client when the word
 * arrives (as an SSE event directly, as a `delta` frame through the BFF), both on the shared
 * high-resolution epoch clock (performance.timeOrigin + performance.now()). Per frame:
 * latency = arrival − written. The BFF's added latency is p99(through the BFF) − p99(direct); the
 * p99 of the per-frame differences (the same word through the BFF minus directly, in the same
 * round) is reported too. Rounds alternate direct / BFF so drift cancels.
 *
 * Options (env): BENCH_SESSIONS (1000), BENCH_TURNS (3 per session and round), BENCH_WORDS (20 per
 * answer), BENCH_CHUNK_DELAY_MS (50: 20 tokens/s per stream, a typical LLM pace), BENCH_ROUNDS (2),
 * BENCH_USERS (100 distinct users), BENCH_VALKEY (1; 0 = in-memory state), BENCH_START_SPREAD_MS (1000:
 * the sessions' first turns start spread evenly over this window, in both the direct and the BFF runs;
 * 0 = all at once), BENCH_UPGRADE_CONCURRENCY (100 upgrades in flight while the sessions open),
 * BENCH_BFF_NODE_ARGS (node flags for the BFF process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), BENCH_LLM_NODE_ARGS
 * (the same for the emulator process).
 * Pass: BFF peak RSS < 300 MB and added p99 < 10 ms.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { freePort } from './lib';

type Role = 'client' | 'llm' | 'bff' | 'relay';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1000);
const TURNS = Number(process.env.BENCH_TURNS ?? 3);
const WORDS = Number(process.env.BENCH_WORDS ?? 20);
const CHUNK_DELAY_MS = Number(process.env.BENCH_CHUNK_DELAY_MS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const USERS = Number(process.env.BENCH_USERS ?? 100);
const USE_VALKEY = process.env.BENCH_VALKEY !== '0';
const START_SPREAD_MS = Number(process.env.BENCH_START_SPREAD_MS ?? 1000);
const UPGRADE_CONCURRENCY = Number(process.env.BENCH_UPGRADE_CONCURRENCY ?? 100);
/** A third side in every round: the bare relay (Node's own floor on this host). BENCH_RELAY=0 leaves it out. */
const WITH_RELAY = process.env.BENCH_RELAY !== '0';
const MAX_RSS_MB = 300;
const MAX_ADDED_P99_MS = 10;
const MODEL = 'bench-model';
const WORD = /s\d+t\d+w\d+/;
const WORDS_IN = /s\d+t\d+w\d+/g;

const now = (): number => performance.timeOrigin + performance.now();

/** CPU time (µs) of this process's main thread: /proc/self/task/<pid>/stat utime + stime, in clock ticks (100 Hz). */
function mainThreadCpu(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function peakRss(): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('VmHWM not found in /proc/self/status (this bench needs Linux)');
  return Number(m[1]) * 1024;
}

// ----- child: the LLM emulator, with a clock on every SSE event it writes ---------------------------------------

async function llmMain(): Promise<void> {
  const written = new Map<string, number>();
  const write = http.ServerResponse.prototype.write;
  // Timestamp each word's event as it is handed to the socket (the emulator itself is untouched).
  http.ServerResponse.prototype.write = function (this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string' && chunk.startsWith('data: {')) {
      const m = WORD.exec(chunk);
      if (m) written.set(m[0], now());
    }
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  const { startLlmProvider } = await import('../sandbox/llm-provider');
  const llm = await startLlmProvider({ apiKey: process.env.BENCH_LLM_KEY!, models: [MODEL] });
  llm.setChunkDelayMs(CHUNK_DELAY_MS);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') process.send?.({ type: 'cpu', ...process.cpuUsage() });
    if (m.type === 'written') {
      process.send?.({ type: 'written', entries: [...written.entries()] });
      written.clear();
      llm.clearRequests();
    }
  });
  process.on('disconnect', () => void llm.close().then(() => process.exit(0)));
  process.send?.({ type: 'ready', url: llm.url });
}

/** Answers the parent's 'live' and 'memory' questions (in the BFF or the relay process). */
function serveProbes(openSessions: () => number): void {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'live') {
      // Live heap: what survives a full collection (the BFF runs with --expose-gc here; see start()).
      // Asked only between phases: the forced collection pauses the process.
      (globalThis as { gc?: () => void }).gc?.();
      process.send?.({ type: 'live', liveHeap: process.memoryUsage().heapUsed });
      setImmediate(() => loop.reset());
    }
    if (m?.type === 'memory') {
      const mem = process.memoryUsage();
      process.send?.({
        type: 'memory',
        peakRss: peakRss(),
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        cpuUserMicros: process.cpuUsage().user,
        cpuSystemMicros: process.cpuUsage().system,
        mainThreadCpuMicros: mainThreadCpu(),
        sessions: openSessions(),
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        loopDelayMaxMs: loop.max / 1e6,
      });
      loop.reset();
    }
  });
}

// ----- child: the BFF ------------------------------------------------------------------------------------------

async function bffMain(): Promise<void> {
  await import('reflect-metadata');
  const { createApp } = await import('../src/app.factory');
  const { loadConfig } = await import('../src/config/load-config');
  const { StateStore } = await import('../src/state/state-store');
  const { AgentGateway } = await import('../src/agent-service/agent.gateway');
  const app = await createApp(loadConfig(process.env));
  await app.listen(0, '127.0.0.1');
  if (process.env.VALKEY_URL) {
    const store = app.get(StateStore);
    for (let i = 0; i < 100 && !store.shared; i++) await new Promise((r) => setTimeout(r, 50));
    if (!store.shared) throw new Error('the BFF did not reach Valkey');
  }
  const { port } = app.getHttpServer().address() as { port: number };
  serveProbes(() => app.get(AgentGateway).openSessions);
  process.on('disconnect', () => void app.close().then(() => process.exit(0)));
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
}

// ----- child: the bare relay -------------------------------------------------------------------------------------

/**
 * The floor any Node relay pays on this host: the same wire protocol as the BFF's agent service (POST
 * /api/agents, the upgrade to /api/agents/:id/react, user_message → OpenAI SSE → delta frames → done) with
 * node:http and `ws` as the BFF uses them, and nothing else: no authentication, no agent or quota state, no
 * history, no timeouts, no logs or metrics. Measured the same way as the BFF, it separates what the BFF adds
 * from what Node's I/O costs on the same cores.
 */
async function relayMain(): Promise<void> {
  // BENCH_RELAY_BALLAST=n: n small live objects (≈ 100 bytes and three heap objects each) kept for the whole run, to give
  // the relay a heap like the BFF's (≈ 40 MB live at boot: Nest, its modules' code and sources) and see what that costs.
  const ballast = Array.from({ length: Number(process.env.BENCH_RELAY_BALLAST ?? 0) }, (_, i) => ({ a: `x${i}`, b: [i, i + 1], c: { d: i } }));
  (globalThis as { relayBallast?: unknown }).relayBallast = ballast; // alive for the whole run
  const { WebSocketServer } = await import('ws');
  const llm = new URL(`${process.env.LLM_BASE_URL}/chat/completions`);
  const key = process.env.LLM_API_KEY!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });
  const send = { binary: false, compress: false, fin: true };
  let sessions = 0;
  let nextId = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `relay-${nextId++}` }));
    });
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    sessions++;
    ws.on('close', () => sessions--);
    ws.on('message', (data) => {
      const { content } = JSON.parse(data.toString()) as { content: string };
      const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true } });
      const upstream = http.request(
        llm,
        { method: 'POST', agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.setEncoding('utf8');
          let buffer = '';
          let usage: unknown;
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let text = '';
            let i: number;
            while ((i = buffer.indexOf('\n\n')) >= 0) {
              const event = buffer.slice(6, i);
              buffer = buffer.slice(i + 2);
              if (event === '[DONE]') continue;
              const v = JSON.parse(event) as { choices: Array<{ delta?: { content?: string } }>; usage?: unknown };
              if (v.usage) usage = v.usage;
              text += v.choices[0]?.delta?.content ?? '';
            }
            if (text) ws.send(`{"type":"delta","content":${JSON.stringify(text)}}`, send);
          });
          res.on('end', () => ws.send(JSON.stringify({ type: 'done', usage }), send));
        },
      );
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  serveProbes(() => sessions);
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
}

// ----- parent: the clients -------------------------------------------------------------------------------------

interface Memory {
  peakRss: number;
  rss: number;
  heapUsed: number;
  /** CPU time of the BFF process so far, µs: in JavaScript and Node (user), in the kernel (system). */
  cpuUserMicros: number;
  cpuSystemMicros: number;
  /** Of which the main (event-loop) thread's, user + system; the rest is V8's GC and compiler threads. */
  mainThreadCpuMicros: number;
  sessions: number;
  /** Event-loop delay of the BFF since the previous sample. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** CPU time (µs, user + system) a process spent between two samples, per streamed event. */
interface CpuSample {
  user: number;
  system: number;
}
const cpuOf = async (llm: ChildProcess): Promise<CpuSample> => ask<CpuSample>(llm, 'cpu');
const perEvent = (a: CpuSample, b: CpuSample, events: number) => round2((b.user - a.user + b.system - a.system) / events);

function start(role: Role, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const execArgv =
      role === 'bff'
        ? ['--expose-gc', ...(process.env.BENCH_BFF_NODE_ARGS?.split(' ').filter(Boolean) ?? [])]
        : role === 'relay'
          ? ['--expose-gc']
          : (process.env.BENCH_LLM_NODE_ARGS?.split(' ').filter(Boolean) ?? []);
    const child = fork(__filename, [role], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${role} exited early (${code})`)));
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
  });
}

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.send({ type });
  });
}

async function startValkey(): Promise<{ url: string; stop(): void } | undefined> {
  if (!USE_VALKEY) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-valkey-'));
  let proc: ChildProcess;
  try {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('spawn', () => resolve());
    });
  } catch {
    process.stderr.write('redis-server not found: running with in-memory state\n');
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  await new Promise((r) => setTimeout(r, 300));
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => {
      proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Users do not all press enter in the same millisecond: session s starts its first turn at a fixed offset within START_SPREAD_MS. */
const jitter = (s: number) => ((s * 7919) % SESSIONS) * (START_SPREAD_MS / SESSIONS);

/** Words of one turn: unique across the whole run. */
const turnText = (session: number, turn: number) => Array.from({ length: WORDS - 2 }, (_, w) => `s${session}t${turn}w${w}`).join(' ');

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const mean = (xs: number[]) => round2(xs.reduce((a, x) => a + x, 0) / xs.length);
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** One direct SSE turn against the emulator; resolves with word → arrival time. */
function directTurn(agent: http.Agent, llmUrl: string, key: string, content: string, arrivals: Map<string, number>): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true }, max_tokens: 4096 });
    const req = http.request(
      `${llmUrl}/v1/chat/completions`,
      { method: 'POST', agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const t = now();
          buffer += chunk;
          let i: number;
          while ((i = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            if (!event.startsWith('data: {')) continue;
            const parsed = JSON.parse(event.slice(6)) as { choices?: Array<{ delta?: { content?: string } }> };
            const word = WORD.exec(parsed.choices?.[0]?.delta?.content ?? '');
            if (word) arrivals.set(word[0], t);
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function directRound(llm: ChildProcess, llmUrl: string, key: string, arrivals: Map<string, number>): Promise<{ clients: number; emulator: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const [client0, llm0] = [process.cpuUsage(), await cpuOf(llm)];
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, s) => {
      await sleep(jitter(s));
      for (let t = 0; t < TURNS; t++) await directTurn(agent, llmUrl, key, turnText(s, t), arrivals);
    }),
  );
  const [client1, llm1] = [process.cpuUsage(), await cpuOf(llm)];
  agent.destroy();
  const events = SESSIONS * TURNS * WORDS;
  return { clients: perEvent(client0, client1, events), emulator: perEvent(llm0, llm1, events) };
}

interface BffSession {
  ws: WebSocket;
  onTurnEnd?: (frame: { type: string; reason?: string }) => void;
}

function openSession(url: string, token: string, arrivals: Map<string, number>): Promise<{ session: BffSession; upgradeMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: 30_000 });
    const session: BffSession = { ws };
    ws.on('message', (data) => {
      const t = now();
      const frame = JSON.parse(data.toString()) as { type: string; content?: string; reason?: string };
      // A delta carries every word the BFF read from the provider at once.
      if (frame.type === 'delta') for (const word of (frame.content ?? '').matchAll(WORDS_IN)) arrivals.set(word[0], t);
      else session.onTurnEnd?.(frame);
    });
    ws.once('open', () => resolve({ session, upgradeMs: performance.now() - started }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function bffTurn(s: BffSession, content: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.onTurnEnd = (frame) => (frame.type === 'done' ? resolve() : reject(new Error(`turn failed: ${frame.reason}`)));
    s.ws.send(JSON.stringify({ type: 'user_message', content }));
  });
}

async function bffRound(
  llm: ChildProcess,
  bff: { child: ChildProcess; url: string },
  agents: Array<{ id: string; token: string }>,
  arrivals: Map<string, number>,
  label = 'BFF',
): Promise<{
  upgradeP50: number;
  upgradeP99: number;
  withSessions: Memory;
  afterTurns: Memory;
  cpuPerFrame: { user: number; system: number };
  othersCpuPerFrame: { clients: number; emulator: number };
  mainThreadPerFrame: number;
  eventsPerSecond: number;
  liveHeap: number;
}> {
  const wsBase = bff.url.replace(/^http/, 'ws');
  const opened: Array<{ session: BffSession; upgradeMs: number }> = [];
  for (let i = 0; i < agents.length; i += UPGRADE_CONCURRENCY) {
    const batch = agents.slice(i, i + UPGRADE_CONCURRENCY);
    opened.push(...(await Promise.all(batch.map((a) => openSession(`${wsBase}/api/agents/${a.id}/react`, a.token, arrivals)))));
  }
  const upgrades = opened.map((o) => o.upgradeMs).sort((a, b) => a - b);
  const withSessions = await ask<Memory>(bff.child, 'memory');
  const [client0, llm0] = [process.cpuUsage(), await cpuOf(llm)];
  const turnsStarted = performance.now();
  process.stderr.write(
    `  ${label}: ${SESSIONS} sessions open: loop delay p99 ${round2(withSessions.loopDelayP99Ms)} ms, max ${round2(withSessions.loopDelayMaxMs)} ms\n`,
  );
  if (withSessions.sessions !== SESSIONS) throw new Error(`${withSessions.sessions} sessions open at the ${label}, expected ${SESSIONS}`);
  await Promise.all(
    opened.map(async ({ session }, s) => {
      await sleep(jitter(s));
      for (let t = 0; t < TURNS; t++) await bffTurn(session, turnText(s, t));
    }),
  );
  const turnsMs = performance.now() - turnsStarted;
  const afterTurns = await ask<Memory>(bff.child, 'memory');
  const [client1, llm1] = [process.cpuUsage(), await cpuOf(llm)];
  const events = agents.length * TURNS * WORDS;
  const eventsPerSecond = Math.round(events / (turnsMs / 1000));
  const mainThreadPerFrame = round2((afterTurns.mainThreadCpuMicros - withSessions.mainThreadCpuMicros) / events);
  const othersCpuPerFrame = { clients: perEvent(client0, client1, events), emulator: perEvent(llm0, llm1, events) };
  const cpuPerFrame = {
    user: (afterTurns.cpuUserMicros - withSessions.cpuUserMicros) / events,
    system: (afterTurns.cpuSystemMicros - withSessions.cpuSystemMicros) / events,
  };
  process.stderr.write(
    `  ${label}: turns done: loop delay p99 ${round2(afterTurns.loopDelayP99Ms)} ms, max ${round2(afterTurns.loopDelayMaxMs)} ms; ` +
      `CPU per streamed event ${round2(cpuPerFrame.user)} µs user + ${round2(cpuPerFrame.system)} µs system ` +
      `(event-loop thread ${mainThreadPerFrame} µs), ${eventsPerSecond} events/s; ` +
      `clients ${othersCpuPerFrame.clients} µs, emulator ${othersCpuPerFrame.emulator} µs\n`,
  );
  // With the sessions still open, after their turns (history included): what they really hold.
  const { liveHeap } = await ask<{ liveHeap: number }>(bff.child, 'live');
  await Promise.all(
    opened.map(
      ({ session }) =>
        new Promise<void>((resolve) => {
          session.ws.once('close', () => resolve());
          session.ws.close(1000);
        }),
    ),
  );
  return {
    upgradeP50: percentile(upgrades, 50),
    upgradeP99: percentile(upgrades, 99),
    withSessions,
    afterTurns,
    cpuPerFrame,
    othersCpuPerFrame,
    mainThreadPerFrame,
    eventsPerSecond,
    liveHeap,
  };
}

async function latencies(llm: ChildProcess, arrivals: Map<string, number>): Promise<Map<string, number>> {
  const { entries } = await ask<{ entries: Array<[string, number]> }>(llm, 'written');
  const out = new Map<string, number>();
  for (const [word, written] of entries) {
    const arrived = arrivals.get(word);
    if (arrived !== undefined) out.set(word, arrived - written);
  }
  const expected = SESSIONS * TURNS * (WORDS - 2);
  if (out.size !== expected) throw new Error(`measured ${out.size} frames, expected ${expected}`);
  return out;
}

async function createAgents(bffUrl: string, tokens: string[]): Promise<Array<{ id: string; token: string }>> {
  const out: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < SESSIONS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, SESSIONS - i) }, async (_, k) => {
        const token = tokens[(i + k) % tokens.length];
        const res = await fetch(`${bffUrl}/api/agents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `bench ${i + k}`, settings: { model: MODEL, maxTokens: 4096 } }),
        });
        if (res.status !== 201) throw new Error(`create agent: ${res.status} ${await res.text()}`);
        return { id: ((await res.json()) as { id: string }).id, token };
      }),
    );
    out.push(...batch);
  }
  return out;
}

async function clientMain(): Promise<void> {
  // Whatever fails, everything started so far is stopped (in reverse order).
  const cleanups: Array<() => unknown> = [];
  try {
    await run(cleanups);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

async function run(cleanups: Array<() => unknown>): Promise<void> {
  const { startOidcIssuer } = await import('../sandbox/oidc-issuer');
  const { sandboxClients, SANDBOX_REALM, SANDBOX_CLIENT_ID } = await import('../sandbox/index');
  const bffSecret = randomUUID();
  const issuer = await startOidcIssuer({ realm: SANDBOX_REALM, clients: sandboxClients('bench', bffSecret) });
  cleanups.push(() => issuer.close());
  const llmKey = `sk-bench-${randomUUID()}`;
  const valkey = await startValkey();
  if (valkey) cleanups.push(() => valkey.stop());
  const llm = await start('llm', { BENCH_LLM_KEY: llmKey });
  cleanups.push(() => llm.child.disconnect());
  const bff = await start('bff', {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    KEYCLOAK_URL: issuer.url,
    KEYCLOAK_REALM: SANDBOX_REALM,
    BFF_CLIENT_ID: SANDBOX_CLIENT_ID,
    BFF_CLIENT_SECRET: bffSecret,
    WORKSPACE_ID: 'bench',
    LLM_BASE_URL: `${llm.url}/v1`,
    LLM_API_KEY: llmKey,
    AGENT_MODELS: MODEL,
    AGENT_TOKEN_QUOTA: String(1e12),
    // Production requires a session secret when state is shared (browser login sessions of the mlflow module).
    ...(valkey ? { VALKEY_URL: valkey.url, BFF_SESSION_SECRET: randomUUID() + randomUUID() } : {}),
  });
  cleanups.push(() => bff.child.disconnect());
  const relay = WITH_RELAY ? await start('relay', { LLM_BASE_URL: `${llm.url}/v1`, LLM_API_KEY: llmKey }) : undefined;
  if (relay) cleanups.push(() => relay.child.disconnect());
  const booted = await ask<Memory>(bff.child, 'memory');
  const bootedLive = await ask<{ liveHeap: number }>(bff.child, 'live');
  const tokens = await Promise.all(
    Array.from({ length: USERS }, (_, u) => issuer.issueToken({ user: 'alice', expiresInS: 3600, claims: { sub: randomUUID(), preferred_username: `bench-${u}` } })),
  );
  const agents = await createAgents(bff.url, tokens);
  const relayAgents = relay ? await createAgents(relay.url, tokens) : [];

  // Warm-up (JIT, connection pools, token verification cache): one full round of each, discarded.
  await directRound(llm.child, llm.url, llmKey, new Map());
  await ask(llm.child, 'written');
  await bffRound(llm.child, bff, agents, new Map());
  await ask(llm.child, 'written');
  if (relay) {
    await bffRound(llm.child, relay, relayAgents, new Map(), 'relay');
    await ask(llm.child, 'written');
  }

  const direct: Array<Map<string, number>> = [];
  const viaBff: Array<Map<string, number>> = [];
  const bffRounds: Array<Awaited<ReturnType<typeof bffRound>>> = [];
  const viaRelay: Array<Map<string, number>> = [];
  const relayRounds: Array<Awaited<ReturnType<typeof bffRound>>> = [];
  const directCpus: Array<{ clients: number; emulator: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const arrivalsDirect = new Map<string, number>();
    const directCpu = await directRound(llm.child, llm.url, llmKey, arrivalsDirect);
    directCpus.push(directCpu);
    process.stderr.write(`  direct: clients ${directCpu.clients} µs, emulator ${directCpu.emulator} µs CPU per streamed event\n`);
    direct.push(await latencies(llm.child, arrivalsDirect));
    const arrivalsBff = new Map<string, number>();
    bffRounds.push(await bffRound(llm.child, bff, agents, arrivalsBff));
    viaBff.push(await latencies(llm.child, arrivalsBff));
    if (relay) {
      const arrivalsRelay = new Map<string, number>();
      relayRounds.push(await bffRound(llm.child, relay, relayAgents, arrivalsRelay, 'relay'));
      viaRelay.push(await latencies(llm.child, arrivalsRelay));
    }
    process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`);
  }
  // The same word (session, turn, position) in the direct and the BFF run of a round.
  const paired: number[] = [];
  for (let r = 0; r < ROUNDS; r++) for (const [word, latency] of viaBff[r]) paired.push(latency - direct[r].get(word)!);
  const all = (xs: Array<Map<string, number>>) => xs.flatMap((m) => [...m.values()]).sort((a, b) => a - b);
  const d = all(direct);
  const b = all(viaBff);
  paired.sort((x, y) => x - y);
  const peak = await ask<Memory>(bff.child, 'memory');
  const addedP99 = percentile(b, 99) - percentile(d, 99);
  const rl = all(viaRelay);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    sessions: SESSIONS,
    turnsPerSessionPerRound: TURNS,
    wordsPerAnswer: WORDS,
    chunkDelayMs: CHUNK_DELAY_MS,
    startSpreadMs: START_SPREAD_MS,
    loadAverageAtEnd: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    rounds: ROUNDS,
    users: USERS,
    state: valkey ? 'valkey (redis-server)' : 'memory',
    framesMeasured: b.length,
    perFrameLatencyMs: {
      direct: { p50: round2(percentile(d, 50)), p90: round2(percentile(d, 90)), p99: round2(percentile(d, 99)), max: round2(d[d.length - 1]) },
      viaBff: { p50: round2(percentile(b, 50)), p90: round2(percentile(b, 90)), p99: round2(percentile(b, 99)), max: round2(b[b.length - 1]) },
      addedP50: round2(percentile(b, 50) - percentile(d, 50)),
      addedP99: round2(addedP99),
      pairedDifferenceP99: round2(percentile(paired, 99)),
      // The bare relay in the same rounds: what any Node relay adds on these cores (no auth, state or checks).
      ...(relay
        ? {
            viaBareRelay: { p50: round2(percentile(rl, 50)), p90: round2(percentile(rl, 90)), p99: round2(percentile(rl, 99)), max: round2(rl[rl.length - 1]) },
            bareRelayAddedP99: round2(percentile(rl, 99) - percentile(d, 99)),
          }
        : {}),
    },
    bffCpuPerStreamedEventMicros: {
      user: round2(bffRounds.reduce((n, x) => n + x.cpuPerFrame.user, 0) / bffRounds.length),
      system: round2(bffRounds.reduce((n, x) => n + x.cpuPerFrame.system, 0) / bffRounds.length),
    },
    // CPU (user + system) per streamed event of every process on these cores, in each kind of round.
    cpuPerStreamedEventMicros: {
      direct: { clients: mean(directCpus.map((x) => x.clients)), emulator: mean(directCpus.map((x) => x.emulator)) },
      viaBff: {
        clients: mean(bffRounds.map((x) => x.othersCpuPerFrame.clients)),
        emulator: mean(bffRounds.map((x) => x.othersCpuPerFrame.emulator)),
        bff: mean(bffRounds.map((x) => x.cpuPerFrame.user + x.cpuPerFrame.system)),
        bffEventLoopThread: mean(bffRounds.map((x) => x.mainThreadPerFrame)),
      },
      ...(relay
        ? {
            viaBareRelay: {
              clients: mean(relayRounds.map((x) => x.othersCpuPerFrame.clients)),
              emulator: mean(relayRounds.map((x) => x.othersCpuPerFrame.emulator)),
              relay: mean(relayRounds.map((x) => x.cpuPerFrame.user + x.cpuPerFrame.system)),
              relayEventLoopThread: mean(relayRounds.map((x) => x.mainThreadPerFrame)),
            },
          }
        : {}),
    },
    /** Streamed events (words) per second over the BFF rounds' turns, all sessions together. */
    streamedEventsPerSecond: mean(bffRounds.map((x) => x.eventsPerSecond)),
    upgradeMs: { p50: round2(Math.max(...bffRounds.map((x) => x.upgradeP50))), p99: round2(Math.max(...bffRounds.map((x) => x.upgradeP99))) },
    bffMemoryMb: {
      afterBoot: mb(booted.rss),
      rssWithSessionsOpen: mb(Math.max(...bffRounds.map((x) => x.withSessions.rss))),
      rssAfterTurns: mb(Math.max(...bffRounds.map((x) => x.afterTurns.rss))),
      peakRss: mb(peak.peakRss),
      heapUsedAfterTurns: mb(Math.max(...bffRounds.map((x) => x.afterTurns.heapUsed))),
      liveHeapAfterBoot: mb(bootedLive.liveHeap),
      liveHeapWithSessionsOpen: mb(Math.max(...bffRounds.map((x) => x.liveHeap))),
    },
    pass: mb(peak.peakRss) < MAX_RSS_MB && addedP99 < MAX_ADDED_P99_MS,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const dir = path.resolve(process.cwd(), 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `agents-${SESSIONS}x${TURNS}-spread${START_SPREAD_MS}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = result.pass ? 0 : 1;
}

const role = (process.argv[2] ?? 'client') as Role;
const main = role === 'llm' ? llmMain : role === 'bff' ? bffMain : role === 'relay' ? relayMain : clientMain;
main().catch((err: unknown) => {
  process.stderr.write(`agents bench (${role}) failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
