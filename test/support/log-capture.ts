import type { IncomingMessage, Server } from 'node:http';
import type { DestinationStream } from 'pino';
import { SECRET_KEYS } from '../../src/config/env.schema';
import type { Sandbox } from '../../sandbox/index';
import type { ManagedProcess } from './processes';
import { needles, scanLog, stripSandboxBanner, type Leak } from './log-scan';

/** A pino destination that keeps every line in memory. */
export interface CaptureSink extends DestinationStream {
  readonly label: string;
  text(): string;
}

const SINK = Symbol('log-capture sink');
const CREDENTIAL_PARAMS = ['access-token', 'access_token', 'ticket', 'token'];

/**
 * Everything the BFFs of one test file logged, and every credential the file used (jest gives each
 * test file its own module registry, so this singleton is per file). Filled by startTestBff (in-process
 * apps), spawnNode (built BFFs), the createRootLogger spy of log-hygiene.setup.ts (any other root logger);
 * scanned after the file by that setup file.
 */
export class LogCapture {
  private readonly sinks: CaptureSink[] = [];
  private readonly processes: Array<{ label: string; proc: ManagedProcess }> = [];
  private readonly sandboxes = new Set<Sandbox>();
  private readonly secrets = new Map<string, string>();
  private readonly tokens = new Set<string>();

  /** A destination for a root logger: the lines stay in memory (and are scanned), nothing reaches stdout. */
  sink(label: string, forward?: DestinationStream): CaptureSink {
    const chunks: string[] = [];
    const sink: CaptureSink & { [SINK]: true } = {
      [SINK]: true,
      label,
      write: (line: string) => {
        chunks.push(line);
        forward?.write(line);
      },
      text: () => chunks.join(''),
    };
    this.sinks.push(sink);
    return sink;
  }

  /** `destination` itself when it is already a capture sink, else a sink that also forwards to it (stdout by default). */
  tee(destination: DestinationStream | undefined, label: string): DestinationStream {
    if (destination && (destination as Partial<Record<typeof SINK, true>>)[SINK]) return destination;
    return this.sink(label, destination ?? { write: (line: string) => void process.stdout.write(line) });
  }

  /** A spawned BFF: its stdout (minus the sandbox banner) and stderr are scanned; the secrets of its env are known. */
  process(label: string, proc: ManagedProcess, env: NodeJS.ProcessEnv = {}): void {
    this.processes.push({ label, proc });
    this.env(env, label);
  }

  /** The secrets of a BFF environment (SECRET_KEYS of env.schema.ts). */
  env(env: Record<string, string | undefined>, from = 'env'): void {
    for (const key of SECRET_KEYS) {
      const value = env[key];
      if (!value) continue;
      if (key === 'VALKEY_URL') {
        const password = /^[a-z]+:\/\/[^:@/]*:([^@/]+)@/i.exec(value)?.[1];
        if (password) this.secret(`${key} password (${from})`, decodeURIComponent(password));
      } else {
        this.secret(`${key} (${from})`, value);
      }
    }
  }

  /** The sandbox's secrets, and at scan time the credentials its emulators received (exchanged tokens, the provider key). */
  sandbox(sandbox: Sandbox): void {
    if (this.sandboxes.has(sandbox)) return;
    this.sandboxes.add(sandbox);
    this.env(sandbox.env, 'sandbox');
  }

  secret(label: string, value: string | undefined): void {
    if (value && ![...this.secrets.values()].includes(value)) this.secrets.set(label, value);
  }

  token(value: string | undefined): void {
    if (value) this.tokens.add(value);
  }

  /** Records the credentials clients send to an in-process BFF: bearer tokens, Basic passwords, credential query values, cookies. */
  watch(server: Server): void {
    const record = (req: IncomingMessage) => {
      try {
        this.credentialsOf(req);
      } catch {
        /* never disturb the request */
      }
    };
    // Through emit, not listeners: the agent gateway answers unknown upgrade paths only when it is the sole 'upgrade' listener.
    const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
    server.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'request' || event === 'upgrade') record(args[0] as IncomingMessage);
      return emit(event, ...args);
    }) as Server['emit'];
  }

  private credentialsOf(req: IncomingMessage): void {
    const auth = req.headers.authorization ?? req.headers['proxy-authorization'];
    if (typeof auth === 'string') {
      const [scheme, value = ''] = auth.trim().split(/\s+/, 2);
      if (/^bearer$/i.test(scheme)) this.token(value);
      else if (/^basic$/i.test(scheme)) {
        this.secret(`a Basic credential sent to the BFF`, value);
        this.secret(`a Basic credential sent to the BFF (decoded)`, Buffer.from(value, 'base64').toString('utf8'));
      }
    }
    for (const url of [req.url, req.headers['x-original-uri'], req.headers['x-forwarded-uri']]) {
      if (typeof url !== 'string' || !url.includes('?')) continue;
      const params = new URLSearchParams(url.slice(url.indexOf('?') + 1));
      for (const name of CREDENTIAL_PARAMS) for (const v of params.getAll(name)) this.token(v);
    }
    const cookie = req.headers.cookie;
    if (typeof cookie === 'string') {
      for (const part of cookie.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) this.secret(`cookie ${part.slice(0, eq).trim()}`, part.slice(eq + 1).trim());
      }
    }
    const apiKey = req.headers['x-api-key'];
    if (typeof apiKey === 'string') this.secret('x-api-key', apiKey);
  }

  /** Every captured text, labelled (the sandbox banner cut out of spawned BFFs' stdout, its tokens known). */
  texts(): Array<{ source: string; text: string }> {
    const out = this.sinks.map((s) => ({ source: s.label, text: s.text() }));
    for (const { label, proc } of this.processes) {
      const { text, tokens } = stripSandboxBanner(proc.stdout());
      tokens.forEach((t) => this.token(t));
      out.push({ source: `${label} stdout`, text }, { source: `${label} stderr`, text: proc.stderr() });
    }
    return out;
  }

  /** Scans everything captured so far against everything known. */
  scan(): Leak[] {
    const texts = this.texts();
    for (const sandbox of this.sandboxes) {
      for (const { server } of sandbox.servers) {
        const requests = (server as { requests?: Array<{ headers?: Record<string, unknown> }> }).requests;
        for (const r of Array.isArray(requests) ? requests : []) {
          const auth = r.headers?.authorization;
          if (typeof auth === 'string' && /^Bearer /i.test(auth)) this.token(auth.slice(7).trim());
        }
      }
    }
    const lookFor = needles({ secrets: this.secrets, tokens: this.tokens });
    return texts.flatMap(({ source, text }) => (text ? scanLog(source, text, lookFor) : []));
  }

  /** How much was captured (to show that the scan saw something). */
  size(): number {
    return this.texts().reduce((n, t) => n + t.text.length, 0);
  }

  /** One line: what the scan covered (LOG_HYGIENE_VERBOSE=1 prints it after each file). */
  summary(): string {
    const texts = this.texts();
    const bytes = texts.reduce((n, t) => n + t.text.length, 0);
    return `${texts.length} log sources, ${bytes} bytes; ${this.secrets.size} secrets, ${this.tokens.size} tokens known`;
  }
}

export const logCapture = new LogCapture();
