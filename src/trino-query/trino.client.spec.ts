import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProblemException } from '../common/problem';
import type { UpstreamTransport } from '../common/upstream-transport';
import type { AppConfig } from '../config/app-config';
import { TrinoClient } from './trino.client';
import { waitUntil } from '../../test/support/net';

/** A coordinator that, once, drops a reused keep-alive connection as a request arrives on it (its idle timeout meeting ours). */
async function flakyCoordinator() {
  const used = new Set<unknown>();
  let resets = 0;
  const served: string[] = [];
  const server = http.createServer((req, res) => {
    if (used.has(req.socket) && resets === 0) {
      resets++;
      req.socket.destroy();
      return;
    }
    used.add(req.socket);
    req.resume();
    req.on('end', () => {
      served.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"q1","stats":{"state":"QUEUED"}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    served,
    resets: () => resets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('TrinoClient', () => {
  it('sends a request once more when its pooled keep-alive connection was closed under it', async () => {
    const coordinator = await flakyCoordinator();
    const client = new TrinoClient({ trino: { url: coordinator.url, auth: 'none', timeoutMs: 5000 } } as AppConfig);
    try {
      const call = { method: 'POST' as const, path: '/v1/statement', body: 'SELECT 1', caller: { user: 'alice' } as never };
      const first = await client.send(call);
      expect(first.status).toBe(200);
      await client.readBody(first, 4096);
      // The connection is back in the pool (free in the transport's pool of the coordinator's origin).
      const { transport } = client as unknown as { transport: UpstreamTransport };
      const free = () => (transport.stats[coordinator.url] as { free?: number } | undefined)?.free ?? 0;
      await waitUntil(() => free() === 1, { what: 'the connection to be back in the pool' });
      const second = await client.send(call);
      expect(second.status).toBe(200);
      expect((await client.readBody(second, 4096)).toString()).toContain('"q1"');
      expect(coordinator.resets()).toBe(1);
      expect(coordinator.served).toEqual(['POST /v1/statement', 'POST /v1/statement']);
    } finally {
      client.onApplicationShutdown();
      await coordinator.close();
    }
  });

  it('gives up on a coordinator that holds the request at TRINO_TIMEOUT_MS, not before (504)', async () => {
    // The coordinator takes the request and never answers. The clock is jest's: the deadline is
    // checked by moving it, not by waiting (the socket's own idle timer, on the real clock, stays far off).
    let arrived!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const server = http.createServer(() => arrived());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const client = new TrinoClient({ trino: { url, auth: 'none', timeoutMs: 60_000 } } as AppConfig);
    try {
      let outcome: unknown;
      const call = client.send({ method: 'POST', path: '/v1/statement', body: 'SELECT 1', caller: { user: 'alice' } as never }).then(
        () => 'answered',
        (err: unknown) => err,
      );
      void call.then((o) => (outcome = o));
      await reached;
      jest.advanceTimersByTime(59_999);
      await new Promise((r) => setImmediate(r));
      expect(outcome).toBeUndefined();
      jest.advanceTimersByTime(1);
      const err = await call;
      expect(err).toBeInstanceOf(ProblemException);
      expect([(err as ProblemException).getStatus(), (err as ProblemException).reason, (err as ProblemException).detail]).toEqual([
        504,
        'upstream_timeout',
        'the Trino coordinator did not answer within 60000 ms',
      ]);
    } finally {
      jest.useRealTimers();
      client.onApplicationShutdown();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
