import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort } from './net';
import { spawnProcess } from './processes';
import type { ManagedProcess } from './processes';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The TLS port, when started with `tls` (the plain port stays open for the test's own commands). */
  readonly tlsPort: number | undefined;
  /** The running redis-server process (undefined after stop/kill). */
  readonly process: ManagedProcess | undefined;
  /** SIGTERM, wait for exit; removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL: simulates a crash. The port stops accepting connections; restart() brings it back. */
  kill(): Promise<void>;
  /** Stops (when running) and starts a fresh, empty redis-server on the same port. */
  restart(): Promise<void>;
  /** Sends one command with the inline protocol and returns the raw reply line, e.g. "+PONG". */
  command(...args: string[]): Promise<string>;
}

/**
 * The environment of a BFF whose test needs its state in Valkey (shared, or checked there). A command that
 * gets no answer within VALKEY_COMMAND_TIMEOUT_MS (500 ms by default) is an outage: Valkey is paused for the BFF, which
 * works from memory meanwhile (a key missing from Valkey, a count or a revocation of its own, `shared` false). On a
 * loaded machine a BFF's event loop can stall that long between a command and its reply (the timer, due first, then
 * fires before the reply is read), so such tests wait 10 s. A killed Valkey fails commands at once whatever the timeout;
 * tests of a hung one (SIGSTOP) keep the default.
 */
export const SHARED_VALKEY_ENV = { VALKEY_COMMAND_TIMEOUT_MS: '10000' } as const;

export function redisAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends `args` as one RESP command to 127.0.0.1:port and resolves with the first reply line
 * (without CRLF) — or, for a bulk string reply, with the string's contents. No client library.
 * With `password`, AUTH is sent first (its +OK is skipped).
 */
export function redisRawCommand(port: number, args: string[], timeoutMs = 1000, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (e: Error | null, v?: string) => {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      if (e) reject(e);
      else resolve(v!);
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`redis :${port}: no reply within ${timeoutMs} ms`)));
    sock.once('error', (e) => done(e));
    const resp = (cmd: string[]) => `*${cmd.length}\r\n` + cmd.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
    sock.once('connect', () => sock.write((password === undefined ? '' : resp(['AUTH', password])) + resp(args)));
    let authPending = password !== undefined;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (authPending) {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        if (buf.slice(0, end) !== '+OK') return done(new Error(`redis :${port}: AUTH refused (${buf.slice(0, end)})`));
        buf = buf.slice(end + 2);
        authPending = false;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const first = buf.slice(0, eol);
      if (first[0] === '$') {
        const len = Number(first.slice(1));
        if (len < 0) return done(null, '(nil)');
        const body = buf.slice(eol + 2);
        if (Buffer.byteLength(body) >= len + 2) return done(null, body.slice(0, len));
        return;
      }
      done(null, first);
    });
    sock.once('end', () => done(new Error(`redis :${port}: connection closed (${JSON.stringify(buf)})`)));
  });
}

/** Ready = answers on the port AND it is our process answering (not whoever else holds the port). */
async function isOurs(port: number, pid: number, password?: string): Promise<boolean> {
  try {
    const info = await redisRawCommand(port, ['INFO', 'server'], 500, password);
    return new RegExp(`^process_id:${pid}\\r?$`, 'm').test(info);
  } catch {
    return false;
  }
}

export interface RedisOptions {
  port?: number;
  timeoutMs?: number;
  /** More redis-server options, e.g. ['--cluster-enabled', 'yes'] or ['--replicaof', '127.0.0.1', '6379']. */
  args?: string[];
  /** Runs a Sentinel instead, with this configuration (written to a file in its own directory: Sentinel rewrites it). */
  sentinelConfig?: string;
  /** The server's password (requirepass; also masterauth, for a replica): command() then authenticates. */
  password?: string;
  /**
   * TLS on a second port (tlsPort), with this certificate; clients need no certificate of their own. Replication and
   * Sentinel's links go over TLS too (tls-replication), so what the sentinels and replicas announce is the TLS port.
   */
  tls?: { caFile: string; cert: string; key: string };
  /** ACL users besides the default one, each allowed every command, key and channel. */
  aclUsers?: { name: string; password: string }[];
}

/** Starts a real, throw-away redis-server (no persistence) on 127.0.0.1 — or a Sentinel (opts.sentinelConfig). */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bff-redis-'));
  let port = opts.port ?? 0;
  let proc: ManagedProcess | undefined;
  const sentinelConf = path.join(dir, 'sentinel.conf');
  const password = opts.password;
  const auth = password === undefined ? [] : ['--requirepass', password, ...(opts.sentinelConfig === undefined ? ['--masterauth', password] : [])];
  const acl = (opts.aclUsers ?? []).map((u) => ['user', u.name, 'on', `>${u.password}`, '~*', '&*', '+@all']);
  if (opts.sentinelConfig !== undefined) fs.writeFileSync(sentinelConf, [opts.sentinelConfig, ...acl.map((line) => line.join(' ')), ''].join('\n'));
  const aclArgs = opts.sentinelConfig === undefined ? acl.flatMap(([directive, ...rules]) => [`--${directive}`, ...rules]) : [];
  let tlsPort = 0;
  const tlsArgs = (): string[] => {
    if (!opts.tls) return [];
    fs.writeFileSync(path.join(dir, 'tls-cert.pem'), opts.tls.cert);
    fs.writeFileSync(path.join(dir, 'tls-key.pem'), opts.tls.key, { mode: 0o600 });
    const files = ['--tls-cert-file', 'tls-cert.pem', '--tls-key-file', 'tls-key.pem', '--tls-ca-cert-file', opts.tls.caFile];
    return ['--tls-port', String(tlsPort), ...files, '--tls-auth-clients', 'no', '--tls-replication', 'yes'];
  };

  const spawnOn = (p: number) =>
    spawnProcess('redis-server', {
      name: `${opts.sentinelConfig === undefined ? 'redis-server' : 'redis-sentinel'}:${p}`,
      cwd: dir,
      args: [
        ...(opts.sentinelConfig !== undefined ? [sentinelConf, '--sentinel'] : []),
        ...['--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--protected-mode', 'no', '--loglevel', 'warning', ...auth, ...tlsArgs()],
        ...(opts.sentinelConfig !== undefined ? [] : ['--save', '', '--appendonly', 'no', '--daemonize', 'no', ...aclArgs, ...(opts.args ?? [])]),
      ],
      ready: (proc) => isOurs(p, proc.pid, password),
      timeoutMs: opts.timeoutMs ?? 10_000,
      graceMs: 5000,
    });

  const launch = async () => {
    if (opts.tls) tlsPort = await freePort();
    if (opts.port !== undefined || port !== 0) {
      proc = await spawnOn(port);
      return;
    }
    // Port chosen by us: retry when another process grabbed it in the meantime.
    for (let attempt = 1; ; attempt++) {
      const p = await freePort();
      try {
        proc = await spawnOn(p);
        port = p;
        return;
      } catch (e) {
        if (attempt >= 3 || !/Address already in use/i.test(String(e))) throw e;
      }
    }
  };

  try {
    await launch();
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const server: RedisServer = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get tlsPort() {
      return opts.tls ? tlsPort : undefined;
    },
    get process() {
      return proc;
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (p) await p.stop({ graceMs: 5000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      const p = proc;
      proc = undefined;
      if (p) await p.kill('SIGKILL');
    },
    async restart() {
      const p = proc;
      proc = undefined;
      if (p) await p.stop({ graceMs: 5000 });
      fs.mkdirSync(dir, { recursive: true });
      proc = await spawnOn(port);
    },
    command: (...args: string[]) => redisRawCommand(port, args, 1000, password),
  };
  return server;
}
