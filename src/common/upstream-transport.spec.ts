import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { UpstreamTransport } from './upstream-transport';

/**
 * An upstream that closes a connection as a request arrives on it, as its idle timeout would: `reused`
 * drops the next request that comes on a connection which carried one before, `fresh` the next one on a
 * new connection, `afterBody` the next reused one once its body arrived; `dropAll` closes the open ones
 * now. It records what it served.
 */
async function closingUpstream() {
  const used = new WeakSet<object>();
  let armed: 'reused' | 'fresh' | 'afterBody' | undefined;
  const sockets = new Set<Socket>();
  const state = {
    served: [] as string[],
    resets: 0,
    arm: (when: typeof armed) => (armed = when),
    /** Closes every open connection now (its keep-alive timeout firing). */
    dropAll: () => sockets.forEach((socket) => socket.destroy()),
  };
  const server = http.createServer((req, res) => {
    const reused = used.has(req.socket);
    used.add(req.socket);
    if ((armed === 'reused' && reused) || (armed === 'fresh' && !reused)) {
      armed = undefined;
      state.resets++;
      req.socket.destroy();
      return;
    }
    if (armed === 'afterBody' && reused) {
      armed = undefined;
      req.once('data', () => {
        state.resets++;
        req.socket.destroy();
      });
      return;
    }
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      state.served.push(`${req.method} ${req.url}${body ? ` ${body}` : ''}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { state, url, close };
}

describe('UpstreamTransport: the keep-alive retry rule', () => {
  let upstream: Awaited<ReturnType<typeof closingUpstream>>;
  let transport: UpstreamTransport;
  const post = (body?: string | PassThrough) =>
    transport.send({ method: 'POST', url: `${upstream.url}/things`, headers: { 'content-type': 'text/plain' }, body }).then(async (res) => ({
      status: res.status,
      text: await transport.readText(res, 1024),
    }));
  /** The pool's counter of connections to the upstream (0 once it has none). */
  const pooled = (counter: 'free' | 'running' | 'connected'): number =>
    (transport.stats[upstream.url] as Record<typeof counter, number> | undefined)?.[counter] ?? 0;
  /** One request that leaves a keep-alive connection in the pool (free again once undici has released it). */
  const pool = async () => {
    expect(await post('warm')).toEqual({ status: 200, text: 'ok' });
    while (pooled('free') !== 1) await new Promise((r) => setTimeout(r, 5));
  };

  beforeEach(async () => {
    upstream = await closingUpstream();
    transport = new UpstreamTransport({ name: 'Upstream', headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });
  });
  afterEach(async () => {
    await transport.close();
    await upstream.close();
  });

  it('sends a request once more, on a new connection, when its reused connection was closed under it', async () => {
    await pool();
    upstream.state.arm('reused');
    expect(await post('again')).toEqual({ status: 200, text: 'ok' });
    expect(upstream.state.resets).toBe(1);
    expect(upstream.state.served).toEqual(['POST /things warm', 'POST /things again']);
  });

  it('does not send again a request whose new connection was closed: the upstream saw it, the caller gets the failure', async () => {
    upstream.state.arm('fresh');
    const err: unknown = await post('once').catch((e: unknown) => e);
    expect(transport.problemOf(err).getStatus()).toBe(502);
    expect(upstream.state.resets).toBe(1);
    expect(upstream.state.served).toEqual([]);
  });

  it('sends a streamed body once more when nothing was read from it yet', async () => {
    await pool();
    const body = new PassThrough();
    const answer = post(body);
    // The request takes the pooled connection (undici writes its headers with the first bytes of the body);
    // the upstream's idle timeout closes that connection right then; only then does the body arrive.
    while (pooled('running') !== 1) await new Promise((r) => setTimeout(r, 5));
    upstream.state.dropAll();
    while (pooled('connected') !== 0) await new Promise((r) => setTimeout(r, 5));
    body.end('late');
    expect(await answer).toEqual({ status: 200, text: 'ok' });
    expect(upstream.state.served).toEqual(['POST /things warm', 'POST /things late']);
  });

  it('never sends a streamed body twice: once it went, the reset is an honest 502 saying so', async () => {
    await pool();
    upstream.state.arm('afterBody');
    const body = new PassThrough();
    body.write('first half ');
    const err: unknown = await post(body).catch((e: unknown) => e);
    const problem = transport.problemOf(err);
    expect(problem.getStatus()).toBe(502);
    expect(problem.detail).toMatch(/streamed, so it cannot be sent again/);
    expect(upstream.state.served).toEqual(['POST /things warm']);
  });
});
