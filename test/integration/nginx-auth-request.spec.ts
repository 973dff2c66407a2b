import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startNginx, type NginxServer } from '../support/nginx';
import { startTestBff, type TestBff } from '../support/app';

/**
 * The single-node setup of the platform docs: a real nginx with auth_request to the BFF's
 * /api/auth in front of an upstream, passing x-user-* from the BFF's answer.
 */
describe('nginx auth_request → /api/auth (real nginx)', () => {
  let bff: TestBff;
  let nginx: NginxServer;
  let upstream: Server;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    bff = await startTestBff();
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, user: req.headers['x-user-name'] ?? null }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const bffPort = new URL(bff.url).port;
    nginx = await startNginx({
      serverBlock: `
        location / {
          auth_request /_bff_auth;
          auth_request_set $user_id $upstream_http_x_user_id;
          auth_request_set $user_name $upstream_http_x_user_name;
          auth_request_set $user_email $upstream_http_x_user_email;
          proxy_set_header X-User-Id $user_id;
          proxy_set_header X-User-Name $user_name;
          proxy_set_header X-User-Email $user_email;
          proxy_pass http://127.0.0.1:${upstreamPort};
        }
        location = /_bff_auth {
          internal;
          proxy_pass http://127.0.0.1:${bffPort}/api/auth;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_set_header X-Original-URI $request_uri;
          proxy_set_header X-Original-Method $request_method;
        }`,
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await new Promise((r) => upstream?.close(r));
    await bff?.close();
  });

  const through = (path: string, headers: Record<string, string> = {}) => fetch(nginx.url + path, { headers });

  it('allows a valid token and hands the upstream the x-user-* of the token', async () => {
    const alice = await bff.token('alice');
    const res = await through('/api/agents', { authorization: `Bearer ${alice}` });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ path: '/api/agents', user: 'alice' });
    const h = seen.at(-1)!;
    expect(h['x-user-email']).toBe('alice@example.com');
    expect(h['x-user-id']).toBe('7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11');
  });

  it('replaces identity headers the client sent with the verified ones', async () => {
    const alice = await bff.token('alice');
    const res = await through('/api/datasets', { authorization: `Bearer ${alice}`, 'x-user-name': 'admin', 'x-user-id': 'root' });
    expect(res.status).toBe(200);
    expect(seen.at(-1)!['x-user-name']).toBe('alice');
    expect(seen.at(-1)!['x-user-id']).not.toBe('root');
  });

  it('401 without a token, and the upstream is never called', async () => {
    const before = seen.length;
    const res = await through('/api/agents');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(seen.length).toBe(before);
  });

  it('403 for a user without REGULAR or ADMIN on /api/agents/**, allowed elsewhere', async () => {
    const viewer = await bff.token('viewer');
    expect((await through('/api/agents/42', { authorization: `Bearer ${viewer}` })).status).toBe(403);
    expect((await through('/api/other', { authorization: `Bearer ${viewer}` })).status).toBe(200);
  });

  it('accepts the access-token query parameter of a WebSocket-style URL', async () => {
    const alice = await bff.token('alice');
    const res = await through(`/api/agents/1/react?access-token=${alice}`);
    expect(res.status).toBe(200);
    expect(seen.at(-1)!['x-user-name']).toBe('alice');
  });

  it('an expired token is a 401 through nginx, never a 500', async () => {
    const expired = await bff.token('alice', { expiresInS: -60 });
    expect((await through('/api/agents', { authorization: `Bearer ${expired}` })).status).toBe(401);
  });
});
