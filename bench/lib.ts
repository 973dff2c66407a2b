import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** Shared plumbing of the benchmarks: a free port, the built BFF as a child process, autocannon runs. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface BffProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts dist/main.js (or another build's `main`) with the given env, resolving when it listens. */
export async function startBffProcess(env: Record<string, string>, main: string = join(__dirname, '../../main.js')): Promise<BffProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`BFF exited:\n${output}`);
    try {
      if ((await fetch(`${url}/health/live`)).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`BFF did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface RunResult {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/**
 * One autocannon run; `headersFor(i)` gives the i-th request's headers (cycling tokens), `bodyFor(i)` its body
 * when each request needs its own (ids that must not repeat).
 */
export async function run(
  name: string,
  url: string,
  opts: {
    connections?: number;
    durationS?: number;
    headersFor?: (i: number) => Record<string, string>;
    bodyFor?: (i: number) => Buffer;
    method?: 'GET' | 'POST';
    body?: string;
  } = {},
): Promise<RunResult> {
  let i = 0;
  const perRequest = opts.headersFor || opts.bodyFor;
  const result = await autocannon({
    url,
    method: opts.method ?? 'GET',
    body: opts.body,
    connections: opts.connections ?? 50,
    duration: opts.durationS ?? 5,
    requests: perRequest
      ? ([
          {
            setupRequest: (req: autocannon.Request) => {
              const n = i++;
              return {
                ...req,
                headers: { ...req.headers, ...opts.headersFor?.(n) },
                ...(opts.bodyFor ? { body: opts.bodyFor(n) } : {}),
              };
            },
          },
        ] as autocannon.Request[])
      : undefined,
  });
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

/** Alternates the runs A B A B … so drift over time cancels, and averages each. */
export async function alternate(rounds: number, runs: Array<() => Promise<RunResult>>): Promise<RunResult[]> {
  const all: RunResult[][] = runs.map(() => []);
  for (let r = 0; r < rounds; r++) for (let k = 0; k < runs.length; k++) all[k].push(await runs[k]());
  return all.map((rs) => ({
    name: rs[0].name,
    rps: Math.round(rs.reduce((a, x) => a + x.rps, 0) / rs.length),
    p50: Math.round((rs.reduce((a, x) => a + x.p50, 0) / rs.length) * 100) / 100,
    p99: Math.round((rs.reduce((a, x) => a + x.p99, 0) / rs.length) * 100) / 100,
    errors: rs.reduce((a, x) => a + x.errors, 0),
    non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
  }));
}

export function table(rows: RunResult[], base: string): string {
  const ref = rows.find((r) => r.name === base)!;
  const lines = ['| run | req/s | p50 ms | p99 ms | errors | non-2xx | ratio to ' + base + ' |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${(r.rps / ref.rps).toFixed(2)} |`);
  return lines.join('\n');
}
