import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import type { UpstreamTransport } from '../common/upstream-transport';
import { LlmProvider, LlmProviderError, type LlmUsage } from './llm-provider';
import { waitUntil } from '../../test/support/net';

const KEY = 'sk-unit-secret-key-0123456789';

/** A provider stand-in whose answer each test scripts. */
async function fakeProvider(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Resolves once the provider's pool holds an idle connection: the last answer's connection is back for the next turn. */
async function backInPool(p: LlmProvider, url: string): Promise<void> {
  const { transport } = p as unknown as { transport: UpstreamTransport };
  while (!((transport.stats[new URL(url).origin] as { free?: number } | undefined)?.free ?? 0)) await new Promise((r) => setImmediate(r));
}

const provider = (baseUrl: string | undefined, timeoutMs = 5000) =>
  new LlmProvider({ llm: { baseUrl, apiKey: KEY, models: ['m'], timeoutMs, modelSettings: {} } } as unknown as AppConfig);

const request = { model: 'm', messages: [{ role: 'user' as const, content: 'hi there' }], temperature: 0.5, maxTokens: 10 };

type LlmStreamEvent = { type: 'delta'; content: string } | { type: 'usage'; usage: LlmUsage };

/** What the sink received, in order, then the usage the stream resolved with. */
async function collect(p: LlmProvider, signal?: AbortSignal): Promise<LlmStreamEvent[]> {
  const out: LlmStreamEvent[] = [];
  const usage = await p.stream(request, { onDelta: (content) => void out.push({ type: 'delta', content }) }, signal);
  out.push({ type: 'usage', usage });
  return out;
}

const sse = (o: unknown) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`;
const chunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });

describe('LlmProvider', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('sends an OpenAI streaming request with the key, and parses events split anywhere (LF and CRLF, comments)', async () => {
    let seen: { auth?: string; body?: Record<string, unknown>; path?: string } = {};
    const srv = await fakeProvider((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen = { auth: req.headers.authorization, body: JSON.parse(body) as Record<string, unknown>, path: req.url };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const text =
          ': keep-alive comment\n\n' +
          sse(chunk('Hel')) +
          `data: ${JSON.stringify(chunk('lo'))}\r\n\r\n` +
          sse({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
          sse({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } }) +
          sse('[DONE]');
        // Byte by byte: no event boundary is where the parser would like it.
        let i = 0;
        const drip = () => {
          if (i >= text.length) return res.end();
          res.write(text.slice(i, i + 7));
          i += 7;
          setImmediate(drip);
        };
        drip();
      });
    });
    try {
      const events = await collect(provider(srv.url));
      // However the bytes were cut, the deltas concatenate to the content, and the usage comes last.
      expect(
        events
          .filter((e) => e.type === 'delta')
          .map((e) => (e as { content: string }).content)
          .join(''),
      ).toBe('Hello');
      expect(events[events.length - 1]).toEqual({ type: 'usage', usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } });
      expect(seen.path).toBe('/v1/chat/completions');
      expect(seen.auth).toBe(`Bearer ${KEY}`);
      expect(seen.body).toEqual({
        model: 'm',
        messages: request.messages,
        temperature: 0.5,
        max_tokens: 10,
        stream: true,
        stream_options: { include_usage: true },
      });
    } finally {
      await srv.close();
    }
  });

  it('sends the events of one read as one delta, and each later read as its own', async () => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(chunk('a ')) + sse(chunk('b ')) + sse(chunk('c ')));
      setTimeout(() => res.end(sse(chunk('d')) + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }) + sse('[DONE]')), 50);
    });
    try {
      const events = await collect(provider(srv.url));
      expect(events.slice(0, 2)).toEqual([
        { type: 'delta', content: 'a b c ' },
        { type: 'delta', content: 'd' },
      ]);
    } finally {
      await srv.close();
    }
  });

  it('reuses the keep-alive connection after [DONE]', async () => {
    const ports = new Set<number>();
    const srv = await fakeProvider((req, res) => {
      ports.add(req.socket.remotePort!);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(chunk('x')) + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }) + sse('[DONE]'));
    });
    try {
      const p = provider(srv.url);
      for (let i = 0; i < 3; i++) {
        await collect(p);
        await backInPool(p, srv.url);
      }
      expect(ports.size).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('estimates usage when the provider reports none', async () => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(chunk('12345678')) + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }));
    });
    try {
      const events = await collect(provider(srv.url));
      expect(events[1]).toEqual({ type: 'usage', usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4, estimated: true } });
    } finally {
      await srv.close();
    }
  });

  it.each([
    [401, 'upstream_error', "the LLM provider refused the BFF's credentials (401)"],
    [404, 'upstream_error', 'the LLM provider does not serve the model m'],
    [429, 'upstream_error', 'the LLM provider is rate limiting the BFF (429)'],
    [500, 'upstream_unavailable', 'the LLM provider failed (500)'],
    [504, 'upstream_timeout', 'the LLM provider timed out (504)'],
  ])('maps HTTP %i to %s without quoting the provider (which echoes the key)', async (status, reason, detail) => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}` } }));
    });
    try {
      const err = (await collect(provider(srv.url)).catch((e: unknown) => e)) as LlmProviderError;
      expect(err).toBeInstanceOf(LlmProviderError);
      expect({ reason: err.reason, detail: err.detail }).toEqual({ reason, detail });
      expect(JSON.stringify(warn.mock.calls)).not.toContain(KEY.slice(-4));
      expect(warn.mock.calls[0][0]).toMatchObject({ event: 'llm.failed', reason, status });
    } finally {
      await srv.close();
    }
  });

  it('reports an error event mid-stream, a stream cut short, and malformed events', async () => {
    let mode = 'error';
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (mode === 'error') res.end(sse(chunk('a')) + sse({ error: { message: `key ${KEY} is bad`, code: 500 } }));
      else if (mode === 'short') res.end(sse(chunk('a')));
      else res.end('data: {"choices":[\n\n');
    });
    try {
      const p = provider(srv.url);
      const errorEvent = (await collect(p).catch((e: unknown) => e)) as LlmProviderError;
      expect([errorEvent.reason, errorEvent.detail]).toEqual(['upstream_error', 'the LLM provider reported an error mid-stream']);
      mode = 'short';
      expect(((await collect(p).catch((e: unknown) => e)) as LlmProviderError).detail).toBe('the LLM provider ended the stream before finishing');
      mode = 'malformed';
      expect(((await collect(p).catch((e: unknown) => e)) as LlmProviderError).detail).toBe('the LLM provider sent a malformed stream event');
      expect(JSON.stringify(warn.mock.calls)).not.toContain(KEY);
    } finally {
      await srv.close();
    }
  });

  it('times out waiting for headers and between events (a late answer is not waited for), lets go of the request, and reports an unreachable provider', async () => {
    const LIMIT_MS = 200;
    let mode = 'silent';
    let closed = 0;
    const headers = { 'content-type': 'text/event-stream' };
    const rest = sse(chunk('late')) + sse('[DONE]');
    // The answer comes far past the limit, from a timer of this process: the provider's own timer is due first, so
    // what the test sees is decided by the limit, not by a wall-clock bound.
    const srv = await fakeProvider((_req, res) => {
      let late: NodeJS.Timeout;
      if (mode === 'silent') {
        // Silent for 5 × the limit (the provider's timer started before this request arrived).
        late = setTimeout(() => res.writeHead(200, headers).end(sse(chunk('a')) + rest), 5 * LIMIT_MS);
      } else {
        // One event, then silent for 25 × the limit (the provider's timer starts once it has read that event).
        res.writeHead(200, headers).write(sse(chunk('a')));
        late = setTimeout(() => res.end(rest), 25 * LIMIT_MS);
      }
      res.once('close', () => {
        closed += 1;
        clearTimeout(late);
      });
    });
    try {
      const p = provider(srv.url, LIMIT_MS);
      const noHeaders = (await collect(p).catch((e: unknown) => e)) as LlmProviderError;
      expect(noHeaders).toBeInstanceOf(LlmProviderError);
      expect([noHeaders.reason, noHeaders.detail]).toEqual(['upstream_timeout', 'the LLM provider did not answer within 200 ms']);
      await waitUntil(() => closed === 1, { what: 'the unanswered request to be closed' });
      mode = 'stall';
      const stalled = (await collect(p).catch((e: unknown) => e)) as LlmProviderError;
      expect(stalled).toBeInstanceOf(LlmProviderError);
      expect(stalled.reason).toBe('upstream_timeout');
      await waitUntil(() => closed === 2, { what: 'the stalled stream to be closed' });
    } finally {
      await srv.close();
    }
    const gone = (await collect(provider(srv.url)).catch((e: unknown) => e)) as LlmProviderError;
    expect([gone.reason, gone.detail]).toEqual(['upstream_unavailable', 'the LLM provider is unreachable']);
    const none = (await collect(provider(undefined)).catch((e: unknown) => e)) as LlmProviderError;
    expect(none.reason).toBe('upstream_unavailable');
  });

  it('rethrows the caller’s abort reason and stops reading the provider', async () => {
    let closed = false;
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(chunk('a')));
      res.on('close', () => (closed = true));
    });
    try {
      const ctrl = new AbortController();
      const reason = new Error('session closing');
      const events: LlmStreamEvent[] = [];
      const sink = {
        onDelta: (content: string) => {
          events.push({ type: 'delta', content });
          ctrl.abort(reason);
        },
      };
      const err = await provider(srv.url, 5000)
        .stream(request, sink, ctrl.signal)
        .catch((e: unknown) => e);
      expect(err).toBe(reason);
      expect(events).toEqual([{ type: 'delta', content: 'a' }]);
      await waitUntil(() => closed, { what: 'the provider stream to be closed' });
    } finally {
      await srv.close();
    }
  });

  it('parses multi-line data, ignores other fields, and keeps an event split across reads whole', async () => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // One JSON document over two data: lines (joined by \n, which JSON allows between tokens).
      res.write('event: message\nid: 1\ndata: {"choices":[{"delta":\ndata: {"content":"multi"}}]}\n\n');
      res.write('data:{"choices":[{"delta":{"content":" no-space"}}]}\r\n\r');
      setTimeout(() => res.end('\n' + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }) + sse('[DONE]')), 20);
    });
    try {
      const events = await collect(provider(srv.url));
      expect(
        events
          .filter((e) => e.type === 'delta')
          .map((e) => (e as { content: string }).content)
          .join(''),
      ).toBe('multi no-space');
    } finally {
      await srv.close();
    }
  });

  it('refuses an event that never ends (a broken provider is not a memory sink)', async () => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(chunk('a')));
      res.write(`data: {"choices":[{"delta":{"content":"${'x'.repeat(1100 * 1024)}`); // no end of line, ever
    });
    try {
      const events: string[] = [];
      const err = (await provider(srv.url)
        .stream(request, { onDelta: (c) => void events.push(c) })
        .catch((e: unknown) => e)) as LlmProviderError;
      expect([err.reason, err.detail]).toEqual(['upstream_error', 'the LLM provider sent a malformed stream event']);
      expect(events).toEqual(['a']);
    } finally {
      await srv.close();
    }
  });

  it('pauses the provider while the consumer is slow, without counting the pause as provider silence', async () => {
    const srv = await fakeProvider((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(chunk('a')));
      setTimeout(() => res.end(sse(chunk('b')) + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }) + sse('[DONE]')), 30);
    });
    try {
      const seen: Array<[string, number]> = [];
      let releasedAt = 0;
      const sink = {
        onDelta: (content: string) => {
          seen.push([content, Date.now()]);
          if (content !== 'a') return;
          // 'a' is written only after 1.2 s: longer than the 1 s timeout, which measures the provider only. (Not 200 ms
          // and 400: the provider answers at once, but a loaded machine can stall this process 200 ms before it reads.)
          return new Promise<void>((resolve) =>
            setTimeout(() => {
              releasedAt = Date.now();
              resolve();
            }, 1200),
          );
        },
      };
      const usage = await provider(srv.url, 1000).stream(request, sink);
      expect(seen.map(([c]) => c)).toEqual(['a', 'b']);
      expect(seen[1][1]).toBeGreaterThanOrEqual(releasedAt); // nothing was read while paused
      expect(usage.estimated).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('sends the request once more when a reused keep-alive connection turns out to be closed', async () => {
    const used = new Set<unknown>();
    let resets = 0;
    const srv = await fakeProvider((req, res) => {
      if (used.has(req.socket) && resets === 0) {
        // The provider's idle timeout meeting our request: the connection goes, the request unanswered.
        resets++;
        req.socket.destroy();
        return;
      }
      used.add(req.socket);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(chunk('x')) + sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }) + sse('[DONE]'));
    });
    try {
      const p = provider(srv.url);
      await collect(p);
      await backInPool(p, srv.url);
      const events = await collect(p);
      expect(resets).toBe(1);
      expect(events[0]).toEqual({ type: 'delta', content: 'x' });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      await srv.close();
    }
  });
});
