import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { logCapture } from './log-capture';
import { waitUntil } from './net';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order. */
  output(): string;
  running(): boolean;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Resolves with the first match of `re` in the combined output (already written or future). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM (or `signal`), then SIGKILL when it is still alive after `graceMs` (default 5000). */
  stop(opts?: { graceMs?: number; signal?: NodeJS.Signals }): Promise<ExitInfo>;
  /** SIGKILL (or `signal`) and wait for the exit: simulates a crash. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
}

export interface SpawnOptions {
  args?: string[];
  /** Added to (or, with inheritEnv: false, replacing) the parent's environment. */
  env?: NodeJS.ProcessEnv;
  inheritEnv?: boolean;
  cwd?: string;
  /** Ready when this matches the combined stdout+stderr. */
  readyLine?: RegExp;
  /** Ready when this resolves true (polled every 50 ms; gets the handle, e.g. for its pid).
   *  Both readyLine and ready may be given; then both must hold. */
  ready?: (proc: ManagedProcess) => Promise<boolean>;
  /** How long to wait for readiness (default 15000 ms); the process is killed on timeout. */
  timeoutMs?: number;
  /** Default grace period for stop() (default 5000 ms). */
  graceMs?: number;
  /** Used in error messages. */
  name?: string;
  /** Mirror the child's output to this process's stderr (also on with env DEBUG_SPAWN=1). */
  echo?: boolean;
  /** Scan the output for credentials after the test file (log-hygiene.setup.ts); spawnNode sets it for a BFF build (…/main.js). */
  captureLogs?: boolean;
  /**
   * Start it as the leader of its own process group, and signal the whole group on stop()/kill():
   * for launcher scripts that run the real server as their child (Keycloak's kc.sh, Trino's launcher).
   */
  processGroup?: boolean;
}

const MAX_CAPTURE = 8 * 1024 * 1024;
const live = new Set<ChildProcess>();
/** Pids of children started as process-group leaders: the exit hook kills their groups. */
const groupLeaders = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Best effort: never leave a server behind when the test process goes away.
  process.once('exit', () => {
    for (const child of live) {
      try {
        if (child.pid !== undefined && groupLeaders.has(child.pid)) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

function tail(text: string, n = 4000): string {
  return text.length > n ? '…' + text.slice(-n) : text;
}

/** Spawns `command` as a child process, captures its output and waits until it is ready. */
export async function spawnProcess(command: string, opts: SpawnOptions = {}): Promise<ManagedProcess> {
  const name = opts.name ?? command;
  const env = opts.inheritEnv === false ? { ...opts.env } : { ...process.env, ...opts.env };
  const echo = opts.echo ?? process.env.DEBUG_SPAWN === '1';
  const graceDefault = opts.graceMs ?? 5000;

  const child = spawn(command, opts.args ?? [], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.processGroup === true,
  });
  installExitHook();
  if (opts.processGroup && child.pid !== undefined) groupLeaders.add(child.pid);
  /** Signals the child, or with processGroup its whole group (by the leader's pid). */
  const signal = (sig: NodeJS.Signals) => {
    if (opts.processGroup && child.pid !== undefined) {
      try {
        process.kill(-child.pid, sig);
        return;
      } catch {
        /* the group is gone: fall back to the child itself */
      }
    }
    child.kill(sig);
  };

  let out = '';
  let err = '';
  let all = '';
  let exitInfo: ExitInfo | undefined;
  let spawnError: Error | undefined;
  const append = (cur: string, chunk: string) => {
    const next = cur + chunk;
    return next.length > MAX_CAPTURE ? next.slice(next.length - MAX_CAPTURE) : next;
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    out = append(out, chunk);
    all = append(all, chunk);
    if (echo) process.stderr.write(`[${name}] ${chunk}`);
  });
  child.stderr!.on('data', (chunk: string) => {
    err = append(err, chunk);
    all = append(all, chunk);
    if (echo) process.stderr.write(`[${name}!] ${chunk}`);
  });

  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      if (child.pid === undefined) {
        exitInfo = { code: null, signal: null };
        resolve(exitInfo);
      }
    });
    child.once('exit', (code, sig) => {
      exitInfo = { code, signal: sig };
      live.delete(child);
      // Give the pipes a moment to drain so the captured output is complete.
      let settled = false;
      const finish = () => {
        if (!settled) {
          settled = true;
          resolve(exitInfo!);
        }
      };
      child.once('close', finish);
      setTimeout(finish, 200).unref();
    });
  });
  if (child.pid !== undefined) live.add(child);

  const describe = () =>
    `${name} (pid ${child.pid ?? '-'})` +
    (spawnError ? `: ${spawnError.message}` : '') +
    (exitInfo ? ` exited with code ${exitInfo.code} signal ${exitInfo.signal}` : '') +
    (all ? `\n--- output ---\n${tail(all)}` : '');

  const running = () => exitInfo === undefined && spawnError === undefined;

  const waitForOutput = async (re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> => {
    let m: RegExpMatchArray | null = null;
    await waitUntil(() => (m = all.match(re)) !== null, {
      timeoutMs,
      intervalMs: 20,
      what: `${re} in the output of ${name}`,
      abort: () => (running() || all.match(re) ? undefined : new Error(`${describe()}\nbefore printing ${re}`)),
    });
    return m!;
  };

  const stop = async (o: { graceMs?: number; signal?: NodeJS.Signals } = {}): Promise<ExitInfo> => {
    if (!running()) return exited;
    signal(o.signal ?? 'SIGTERM');
    const grace = o.graceMs ?? graceDefault;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), grace);
    });
    const res = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (res === 'timeout') {
      signal('SIGKILL');
      return exited;
    }
    return res;
  };

  const kill = async (sig: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> => {
    if (running()) signal(sig);
    return exited;
  };

  const handle: ManagedProcess = {
    get pid() {
      return child.pid ?? -1;
    },
    child,
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    running,
    exited,
    waitForOutput,
    stop,
    kill,
  };

  if (opts.captureLogs) logCapture.process(`${name} (pid ${handle.pid})`, handle, opts.env);

  // Spawn failures (ENOENT, EACCES) are reported asynchronously.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (spawnError) throw new Error(`could not start ${describe()}`);

  const timeoutMs = opts.timeoutMs ?? 15_000;
  const started = Date.now();
  try {
    if (opts.readyLine) await waitForOutput(opts.readyLine, timeoutMs);
    if (opts.ready) {
      const ready = opts.ready;
      await waitUntil(() => ready(handle), {
        timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)),
        what: `${name} to become ready`,
        abort: () => (running() ? undefined : new Error(`${describe()}\nbefore becoming ready`)),
      });
    }
  } catch (e) {
    await kill();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.includes('--- output ---') ? msg : `${msg}\n${describe()}`);
  }
  return handle;
}

/**
 * Runs a Node.js script (e.g. the built BFF: `spawnNode('dist/main.js', { env, readyLine: /listening/ })`)
 * with the same Node binary that runs the tests. A BFF build (a script named main.js) has its output
 * scanned for credentials after the test file, and its env's secrets are known to the scan.
 */
export function spawnNode(scriptPath: string, opts: SpawnOptions & { nodeArgs?: string[] } = {}): Promise<ManagedProcess> {
  const { nodeArgs = [], args = [], ...rest } = opts;
  return spawnProcess(process.execPath, {
    name: scriptPath,
    captureLogs: basename(scriptPath) === 'main.js',
    ...rest,
    args: [...nodeArgs, scriptPath, ...args],
  });
}
