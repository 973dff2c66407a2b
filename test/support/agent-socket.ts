import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

/** The agent conversation WebSocket through the real `ws` client (integration and deploy tests). */
export type Frame = { type: string; content?: string; usage?: Record<string, number>; reason?: string; detail?: string };

export interface AgentSocket {
  ws: WebSocket;
  /** The headers of the 101 answer (what a proxy in front added, too). */
  headers: IncomingHttpHeaders;
  closed: Promise<{ code: number; reason: string }>;
  /** Every frame the server sent, parsed, and as its text. */
  frames: Frame[];
  raw: string[];
  /** The next frame not yet taken (waits for it; fails when the socket closes first or after `timeoutMs`). */
  next(timeoutMs?: number): Promise<Frame>;
  /** Sends one user message and collects the streamed answer until `done` or `error`. */
  turn(content: string, timeoutMs?: number): Promise<{ text: string; done?: Frame; error?: Frame }>;
}

export interface Refused {
  refused: true;
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Opens the socket: the session, or the HTTP answer that refused the upgrade. */
export function openAgentSocket(
  url: string,
  opts: { headers?: Record<string, string>; origin?: string; /** Sees every frame's text (e.g. a file-wide log to scan). */ onText?: (text: string) => void } = {},
): Promise<AgentSocket | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: opts.headers, origin: opts.origin, handshakeTimeout: 5000 });
    const frames: Frame[] = [];
    const raw: string[] = [];
    const waiters: Array<() => void> = [];
    let headers: IncomingHttpHeaders = {};
    ws.on('upgrade', (res) => (headers = res.headers));
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const text = data.toString();
      raw.push(text);
      opts.onText?.(text);
      frames.push(JSON.parse(text) as Frame);
      waiters.splice(0).forEach((w) => w());
    });
    ws.on('close', () => waiters.splice(0).forEach((w) => w()));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ refused: true, status: res.statusCode ?? 0, headers: res.headers, body });
        ws.terminate();
      });
    });
    ws.once('error', (err) => reject(err));
    ws.once('open', () => {
      let taken = 0;
      const next = (timeoutMs = 10_000) =>
        new Promise<Frame>((res, rej) => {
          const poll = () => {
            if (taken < frames.length) return res(frames[taken++]);
            if (ws.readyState === WebSocket.CLOSED) return rej(new Error('socket closed'));
            waiters.push(poll);
          };
          setTimeout(() => rej(new Error('no frame in time')), timeoutMs).unref();
          poll();
        });
      resolve({
        ws,
        headers,
        closed,
        frames,
        raw,
        next,
        async turn(content, timeoutMs = 10_000) {
          ws.send(JSON.stringify({ type: 'user_message', content }));
          let text = '';
          for (;;) {
            const f = await next(timeoutMs);
            if (f.type === 'delta') text += f.content ?? '';
            else if (f.type === 'done') return { text, done: f };
            else if (f.type === 'error') return { text, error: f };
          }
        },
      });
    });
  });
}

export function isRefused(s: AgentSocket | Refused): s is Refused {
  return (s as Refused).refused === true;
}
