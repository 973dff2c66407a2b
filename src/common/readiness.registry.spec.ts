import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { degradedWhenUnreachable } from './readiness.registry';

describe('degradedWhenUnreachable (an optional upstream on /health/ready)', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is up when the upstream answers anything (a 404 included)', async () => {
    await expect(degradedWhenUnreachable(url, 'X unreachable')()).resolves.toEqual({ status: 'up' });
  });

  it('is degraded, with its detail, when nothing answers', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(degradedWhenUnreachable(`http://127.0.0.1:${port}`, 'X unreachable')()).resolves.toEqual({ status: 'degraded', detail: 'X unreachable' });
  });
});
