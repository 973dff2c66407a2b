import * as http from 'node:http';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import type { Env } from '../../src/config/load-config';
import type { Sandbox } from '../../sandbox/index';
import type { SandboxServer } from '../../sandbox/types';
import { startTestBff, type TestBff } from '../support/app';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Json | undefined;
}

/** One request over a fresh connection (no keep-alive left behind); never rejects on an HTTP status. */
export function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; headers?: Record<string, string>; json?: unknown; body?: string; timeoutMs?: number } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { connection: 'close', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent: false, timeout: opts.timeoutMs ?? 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Json | undefined;
        try {
          json = text ? (JSON.parse(text) as Json) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** An emulator of the sandbox by name, typed by the caller. */
export function emulator<T extends SandboxServer>(sandbox: Sandbox, name: string): T {
  const found = sandbox.servers.find((s) => s.name === name);
  if (!found) throw new Error(`no emulator ${name} in the sandbox`);
  return found.server as T;
}

/** Sockets the BFF's HTTP server holds open right now (leak check). */
export function openSockets(bff: Pick<TestBff, 'app'>): Promise<number> {
  const server = bff.app.getHttpServer() as http.Server;
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Tracks the client sockets an http.Server accepted, to wait for them to be gone. */
export function trackSockets(server: http.Server): { live(): number } {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return { live: () => sockets.size };
}

/** The BFF in-process at debug level with every log line captured in memory (log hygiene): startTestBff's capture. */
export function startLoggedBff(sandbox: Sandbox, env: Env = {}): Promise<TestBff> {
  return startTestBff({ LOG_LEVEL: 'debug', ...env }, { sandbox });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** problem+json (with or without a charset parameter). */
export const PROBLEM_JSON = /^application\/problem\+json(;|$)/;

/** A server frame of the agent WebSocket. */
export type AgentFrame = { type: string; content?: string; reason?: string; detail?: string; usage?: Record<string, number> };

export interface AgentSession {
  ws: WebSocket;
  frames: AgentFrame[];
  closed: Promise<{ code: number; reason: string }>;
  /** Sends a user message and collects frames up to `done` or `error`. */
  turn(content: string, timeoutMs?: number): Promise<{ text: string; end: AgentFrame }>;
}

/** Opens the agent conversation with the real `ws` client (a token or a ticket in the query, as browsers do). */
export function openAgentSession(base: string, agentId: string, token: string, credential: 'access-token' | 'ticket' = 'access-token'): Promise<AgentSession> {
  const url = `${base.replace(/^http/, 'ws')}/api/agents/${agentId}/react?${credential}=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    const frames: AgentFrame[] = [];
    let listeners: Array<() => void> = [];
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      frames.push(JSON.parse(data.toString()) as AgentFrame);
      listeners.forEach((l) => l());
    });
    ws.on('close', () => listeners.forEach((l) => l()));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        frames,
        closed,
        turn(content, timeoutMs = 10_000) {
          const from = frames.length;
          ws.send(JSON.stringify({ type: 'user_message', content }));
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`no end of turn within ${timeoutMs} ms`)), timeoutMs);
            const check = () => {
              const mine = frames.slice(from);
              const end = mine.find((f) => f.type === 'done' || f.type === 'error');
              if (end) {
                clearTimeout(timer);
                listeners = listeners.filter((l) => l !== check);
                res({
                  text: mine
                    .filter((f) => f.type === 'delta')
                    .map((f) => f.content)
                    .join(''),
                  end,
                });
              } else if (ws.readyState === WebSocket.CLOSED) {
                clearTimeout(timer);
                rej(new Error('the session closed during the turn'));
              }
            };
            listeners.push(check);
          });
        },
      }),
    );
  });
}
