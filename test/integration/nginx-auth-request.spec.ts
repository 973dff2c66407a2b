import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { llmReplyFor } from '../../sandbox/llm-provider';
import { httpRequest } from '../support/net';
import { startNginx, type NginxServer } from '../support/nginx';
import { startTestBff, type TestBff } from '../support/app';
import { isRefused, openAgentSocket, type AgentSocket, type Refused } from '../support/agent-socket';

/** The internal auth_request location, as the platform's nginx config writes it: /api/auth with the original method and URI. */
const authLocation = (bffPort: string) => `location = /_bff_auth {
          internal;
          proxy_pass http://127.0.0.1:${bffPort}/api/auth;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_set_header X-Original-URI $request_uri;
          proxy_set_header X-Original-Method $request_method;
        }`;

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
        ${authLocation(bffPort)}`,
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

function opened(u: AgentSocket | Refused): AgentSocket {
  if (isRefused(u)) throw new Error(`the upgrade was refused: ${u.status} ${u.body}`);
  return u;
}

/** One turn that must end with `done`: the streamed answer's text. */
async function answer(s: AgentSocket, content: string): Promise<string> {
  const { text, done, error } = await s.turn(content);
  if (!done) throw new Error(`the turn ended without done: ${JSON.stringify(error)}`);
  return text;
}

/**
 * ?ticket= upgrades of the agent WebSocket behind nginx auth_request, as the platform's single-node
 * setup runs them: /api/auth checks the ticket (without consuming it) and answers with the ticket's
 * principal; the BFF's upgrade then redeems it, once. A ticket opens that one agent's upgrade, and
 * nothing else.
 */
describe('nginx auth_request → /api/auth: ?ticket= WebSocket upgrades (real nginx, real ws)', () => {
  let bff: TestBff;
  let nginx: NginxServer;
  let upstream: Server;
  let alice: string;
  const upstreamCalls: string[] = [];

  beforeAll(async () => {
    bff = await startTestBff();
    alice = await bff.token('alice');
    // Stands for REST upstreams behind the same auth_request: it must never be reached with a ticket.
    upstream = createServer((req, res) => {
      upstreamCalls.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const bffPort = new URL(bff.url).port;
    nginx = await startNginx({
      httpBlock: `
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }`,
      serverBlock: `
        # The conversation WebSocket: auth_request on the Upgrade request (?ticket=, ?access-token= or
        # Bearer), then a tunnel to the BFF, which redeems a ticket before the 101. The identity
        # /api/auth answered with is echoed back to the client so the test can see whose it was.
        location ~ ^/api/agents/[^/]+/react$ {
          auth_request /_bff_auth;
          auth_request_set $user_id $upstream_http_x_user_id;
          auth_request_set $user_name $upstream_http_x_user_name;
          auth_request_set $user_email $upstream_http_x_user_email;
          add_header X-Auth-User-Id $user_id always;
          add_header X-Auth-User-Name $user_name always;
          add_header X-Auth-User-Email $user_email always;
          proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection $connection_upgrade;
          proxy_pass http://127.0.0.1:${bffPort};
        }
        location / {
          auth_request /_bff_auth;
          proxy_pass http://127.0.0.1:${upstreamPort};
        }
        ${authLocation(bffPort)}`,
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await new Promise((r) => upstream?.close(r));
    await bff?.close();
  });

  const createAgent = async (name: string): Promise<string> => {
    const res = await httpRequest(`${bff.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    expect(res.status).toBe(201);
    return (JSON.parse(res.body) as { id: string }).id;
  };
  const ticketFor = async (agentId: string): Promise<string> => {
    const res = await httpRequest(`${bff.url}/api/agents/${agentId}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(res.status).toBe(201);
    return (JSON.parse(res.body) as { ticket: string }).ticket;
  };
  const react = (agentId: string, ticket: string) => `${nginx.url.replace(/^http/, 'ws')}/api/agents/${agentId}/react?ticket=${ticket}`;
  /** nginx's own 401 page: the auth subrequest refused, and the request never reached the BFF's upgrade. */
  const refusedByAuthRequest = (u: AgentSocket | Refused) => {
    expect('refused' in u && u.status).toBe(401);
    expect('refused' in u && u.headers['content-type']).toMatch(/^text\/html/);
  };

  it('a ticketed upgrade passes auth_request with the ticket’s principal, and the conversation streams', async () => {
    const id = await createAgent('ticket through nginx');
    const s = opened(await openAgentSocket(react(id, await ticketFor(id))));
    expect(s.headers['x-auth-user-name']).toBe('alice');
    expect(s.headers['x-auth-user-email']).toBe('alice@example.com');
    expect(s.headers['x-auth-user-id']).toBe('7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11');
    expect(await answer(s, 'ticketed, through nginx')).toBe(llmReplyFor('ticketed, through nginx'));
    s.ws.close();
    expect(nginx.errorLog()).not.toMatch(/auth request unexpected status/);
  });

  it('the same ticket reused through nginx is refused by the auth subrequest', async () => {
    const id = await createAgent('reuse');
    const ticket = await ticketFor(id);
    const s = opened(await openAgentSocket(react(id, ticket)));
    expect(await answer(s, 'once')).toBe(llmReplyFor('once'));
    s.ws.close();
    refusedByAuthRequest(await openAgentSocket(react(id, ticket)));
  });

  it('a ticket for agent A used on agent B is refused, and still opens A (a refused check consumes nothing)', async () => {
    const a = await createAgent('A');
    const b = await createAgent('B');
    const ticket = await ticketFor(a);
    refusedByAuthRequest(await openAgentSocket(react(b, ticket)));
    const s = opened(await openAgentSocket(react(a, ticket)));
    expect(await answer(s, 'agent A')).toBe(llmReplyFor('agent A'));
    s.ws.close();
  });

  it('a ticket in a client-sent X-Forwarded-Uri authorises nothing: the ticketless upgrade and REST calls are 401, the ticket still opens its upgrade', async () => {
    const id = await createAgent('forwarded-uri');
    const ticket = await ticketFor(id);
    const forged = { 'x-forwarded-uri': `/api/agents/${id}/react?ticket=${ticket}` };
    const before = upstreamCalls.length;
    // This nginx sets X-Original-URI but does not clear X-Forwarded-Uri: the BFF alone must not believe it.
    for (let i = 0; i < 2; i++) {
      refusedByAuthRequest(await openAgentSocket(`${nginx.url.replace(/^http/, 'ws')}/api/agents/${id}/react`, { headers: forged }));
      expect((await httpRequest(`${nginx.url}/api/agents/${id}`, { headers: forged })).status).toBe(401);
    }
    expect(upstreamCalls.length).toBe(before);
    const s = opened(await openAgentSocket(react(id, ticket)));
    expect(await answer(s, 'after the forged ones')).toBe(llmReplyFor('after the forged ones'));
    s.ws.close();
  });

  it('a ticket authorises no REST route through nginx (the upstream is never called), only its upgrade', async () => {
    const id = await createAgent('rest');
    const ticket = await ticketFor(id);
    const before = upstreamCalls.length;
    for (const [method, path] of [
      ['GET', `/api/agents/${id}?ticket=${ticket}`],
      ['GET', `/api/agents?ticket=${ticket}`],
      ['POST', `/api/agents/${id}/ws-ticket?ticket=${ticket}`],
      ['DELETE', `/api/agents/${id}?ticket=${ticket}`],
      ['GET', `/api/agents/${id}/react/x?ticket=${ticket}`],
      ['GET', `/api/datasets?ticket=${ticket}`],
    ]) {
      const res = await httpRequest(`${nginx.url}${path}`, { method });
      expect([method, path.split('?')[0], res.status]).toEqual([method, path.split('?')[0], 401]);
    }
    expect(upstreamCalls.length).toBe(before);
    const s = opened(await openAgentSocket(react(id, ticket)));
    expect(await answer(s, 'still valid')).toBe(llmReplyFor('still valid'));
    s.ws.close();
    expect(nginx.errorLog()).not.toMatch(/auth request unexpected status/);
  });
});
