import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { llmReplyFor } from '../../sandbox/llm-provider';
import { canConnect, freePort, httpRequest, waitUntil } from '../support/net';
import { nginxAvailable, nginxBinary } from '../support/nginx';
import { spawnProcess, type ManagedProcess } from '../support/processes';
import { startTestBff, type TestBff } from '../support/app';
import { isRefused, openAgentSocket, type AgentSocket } from '../support/agent-socket';
import { composeResolved, readDocker } from './deploy-files';

/**
 * docker/nginx/nginx.conf with Debian's real nginx (issue 10 items 2 and 5).
 *
 * `nginx -t` resolves every `server` of an upstream block while it loads the file, and the compose
 * service names (bff) resolve only inside Docker's network. So the test makes a loopback copy in a
 * temp dir that differs from docker/nginx/nginx.conf in exactly two kinds of lines, checked below:
 * the upstream `server host:port;` lines (the compose host names become 127.0.0.1) and the
 * `listen` line (a free loopback port). Every other directive is the shipped text. That copy gets
 * `nginx -t`, and then runs (with `-g 'daemon off; master_process off; pid …;'`) in front of the
 * real BFF, so auth_request, the x-user-* injection and the WebSocket upgrade are exercised with the
 * shipped directives.
 *
 * The file logs to /dev/stdout and /dev/stderr, as in the nginx image (where they are pipes to
 * `docker logs`). Node's child-process pipes are sockets, which cannot be open()ed through
 * /dev/std*, so nginx runs here with its stdout and stderr redirected to files in the temp dir.
 */

const SHIPPED = readDocker('nginx/nginx.conf');

/** `nginx -t -p dir -c conf`, its stdout/stderr in files of dir (see above). */
function nginxTestConf(confText: string, dir: string): { ok: boolean; output: string } {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, confText);
  const out = join(dir, 'nginx-t.out');
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(nginxBinary(), ['-t', '-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', fd, fd], timeout: 15_000 });
    return { ok: r.status === 0, output: readFileSync(out, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bff-nginx-t-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The loopback copy: upstream servers and the listen port replaced, nothing else. */
function loopbackCopy(conf: string, listen: string, upstreams: Record<string, string>): string {
  const out: string[] = [];
  let upstream: string | undefined;
  for (const line of conf.split('\n')) {
    const open = /^\s*upstream\s+([A-Za-z0-9_]+)\s*\{/.exec(line);
    if (open) upstream = open[1];
    else if (upstream && /^\s*\}/.test(line)) upstream = undefined;
    const server = /^(\s*)server\s+([A-Za-z0-9.-]+):(\d+)(.*);\s*$/.exec(line);
    if (upstream && server) {
      const target = upstreams[upstream];
      if (!target) throw new Error(`no loopback target for upstream ${upstream}`);
      out.push(`${server[1]}server ${target}${server[4]};`);
      continue;
    }
    const l = /^(\s*)listen\s+(\d+)\s*;\s*$/.exec(line);
    if (l) {
      out.push(`${l[1]}listen ${listen};`);
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

const differingLines = (a: string, b: string) => {
  const x = a.split('\n');
  const y = b.split('\n');
  expect(y.length).toBe(x.length);
  return x.map((line, i) => [line.trim(), y[i].trim()]).filter(([p, q]) => p !== q);
};

describe('docker/nginx/nginx.conf', () => {
  it('is a complete nginx.conf for the nginx image: no user/pid/daemon, upstreams on compose services', () => {
    expect(SHIPPED).not.toMatch(/^\s*(user|pid|daemon)\s/m);
    const compose = composeResolved();
    const upstreamHosts = [...SHIPPED.matchAll(/^\s*server\s+([A-Za-z0-9.-]+):(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
    expect(upstreamHosts.length).toBeGreaterThan(0);
    for (const [host, port] of upstreamHosts) {
      expect(compose.services[host as string]).toBeDefined();
      expect(port).toBe(Number(compose.services.bff.environment.PORT));
    }
    // The container port compose publishes is the one nginx listens on.
    const [, containerPort] = (compose.services.nginx.ports[0] as string).split(':');
    expect(SHIPPED).toMatch(new RegExp(`^\\s*listen ${containerPort};`, 'm'));
  });

  it('as shipped, nginx -t fails only because the compose host names do not resolve outside Docker', () => {
    const r = withTempDir((dir) => nginxTestConf(SHIPPED, dir));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/host not found in upstream "bff:3000"/);
  });

  it('nginx -t accepts the loopback copy, which differs only in upstream servers and listen', () => {
    expect(nginxAvailable()).toBe(true);
    const copy = loopbackCopy(SHIPPED, '127.0.0.1:18080', { platform_bff: '127.0.0.1:3000', agents: '127.0.0.1:3000' });
    const diff = differingLines(SHIPPED, copy);
    expect(diff).toEqual([
      ['server bff:3000;', 'server 127.0.0.1:3000;'],
      ['server bff:3000;', 'server 127.0.0.1:3000;'],
      ['listen 8080;', 'listen 127.0.0.1:18080;'],
    ]);
    const r = withTempDir((dir) => nginxTestConf(copy, dir));
    if (!r.ok) throw new Error(r.output);
    expect(r.output).toMatch(/test is successful/);
  });
});

/** The loopback copy of the shipped file, run by a real nginx in the foreground. */
interface RunningNginx {
  url: string;
  proc: ManagedProcess;
  /** What nginx wrote to /dev/stdout (the access log) and /dev/stderr (the error log). */
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

async function runNginx(upstreams: Record<string, string>): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'bff-nginx-deploy-'));
  const port = await freePort();
  const t = nginxTestConf(loopbackCopy(SHIPPED, `127.0.0.1:${port}`, upstreams), dir);
  if (!t.ok) throw new Error(t.output);
  const conf = join(dir, 'nginx.conf');
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), 'utf8');
    } catch {
      return '';
    }
  };
  const args = ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log'), '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`];
  const quoted = [nginxBinary(), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const proc = await spawnProcess('sh', {
    name: `nginx:${port}`,
    args: ['-c', `exec ${quoted} >'${dir}/stdout.log' 2>'${dir}/stderr.log'`],
    ready: () => canConnect(port, '127.0.0.1', 500),
    timeoutMs: 10_000,
  });
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    accessLog: () => read('stdout.log'),
    errorLog: () => read('stderr.log') + read('error.log'),
    stop: async () => {
      await proc.stop({ signal: 'SIGQUIT', graceMs: 5000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('docker/nginx/nginx.conf running in front of the real BFF (auth_request to /api/auth)', () => {
  let bff: TestBff;
  let nginx: RunningNginx;
  const json = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    bff = await startTestBff();
    const target = `127.0.0.1:${new URL(bff.url).port}`;
    nginx = await runNginx({ platform_bff: target, agents: target });
  });
  afterAll(async () => {
    await nginx?.stop();
    await bff?.close();
  });

  it('agent REST routes: 401 without a token, 403 without REGULAR/ADMIN, created and read with one', async () => {
    expect((await httpRequest(`${nginx.url}/api/agents`)).status).toBe(401);
    expect((await httpRequest(`${nginx.url}/api/agents`, { headers: json(await bff.token('viewer')) })).status).toBe(403);
    const alice = await bff.token('alice');
    const created = await httpRequest(`${nginx.url}/api/agents`, { method: 'POST', headers: json(alice), body: JSON.stringify({ name: 'via nginx' }) });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { id: string }).id;
    const got = await httpRequest(`${nginx.url}/api/agents/${id}`, { headers: json(alice) });
    expect(got.status).toBe(200);
    expect(nginx.errorLog()).not.toMatch(/auth request unexpected status/);
  });

  it('the WebSocket upgrade is authorized before the 101 (access-token), then the conversation streams through', async () => {
    const alice = await bff.token('alice');
    const created = await httpRequest(`${nginx.url}/api/agents`, { method: 'POST', headers: json(alice), body: JSON.stringify({ name: 'ws via nginx' }) });
    const id = (JSON.parse(created.body) as { id: string }).id;
    const wsBase = nginx.url.replace(/^http/, 'ws');

    const none = await openAgentSocket(`${wsBase}/api/agents/${id}/react`);
    expect(isRefused(none) && none.status).toBe(401);
    const viewer = await openAgentSocket(`${wsBase}/api/agents/${id}/react?access-token=${await bff.token('viewer')}`);
    expect(isRefused(viewer) && viewer.status).toBe(403);

    const s = (await openAgentSocket(`${wsBase}/api/agents/${id}/react?access-token=${alice}`)) as AgentSocket;
    expect(isRefused(s)).toBe(false);
    const turn = await s.turn('hello through nginx');
    expect(turn.error).toBeUndefined();
    expect(turn.text).toBe(llmReplyFor('hello through nginx'));
    s.ws.close();
    await s.closed;
    // The access log has the path, never the token of the query string. nginx writes an upgraded request's line when
    // it closes its side of the tunnel, which can be after the client saw the close.
    await waitUntil(() => nginx.accessLog().includes(`/api/agents/${id}/react`), { what: 'the access-log line of the upgrade' });
    expect(nginx.accessLog() + nginx.errorLog()).not.toContain(alice);
  });

  it('a ?ticket= upgrade goes to the BFF, which redeems the single-use ticket before the 101', async () => {
    const alice = await bff.token('alice');
    const created = await httpRequest(`${nginx.url}/api/agents`, { method: 'POST', headers: json(alice), body: JSON.stringify({ name: 'ticket via nginx' }) });
    const id = (JSON.parse(created.body) as { id: string }).id;
    const issued = await httpRequest(`${nginx.url}/api/agents/${id}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(issued.status).toBe(201);
    const { url } = JSON.parse(issued.body) as { url: string };
    const wsBase = nginx.url.replace(/^http/, 'ws');
    const s = (await openAgentSocket(`${wsBase}${url}`)) as AgentSocket;
    expect(isRefused(s)).toBe(false);
    expect((await s.turn('ticketed')).text).toBe(llmReplyFor('ticketed'));
    s.ws.close();
    await s.closed;
    const again = await openAgentSocket(`${wsBase}${url}`);
    expect(isRefused(again) && again.status).toBe(401);
  });
});

describe('docker/nginx/nginx.conf: what the agents upstream receives', () => {
  let bff: TestBff;
  let nginx: RunningNginx;
  let agents: Server;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    bff = await startTestBff();
    agents = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((r) => agents.listen(0, '127.0.0.1', r));
    nginx = await runNginx({ platform_bff: `127.0.0.1:${new URL(bff.url).port}`, agents: `127.0.0.1:${(agents.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    await nginx?.stop();
    await new Promise((r) => agents?.close(r));
    await bff?.close();
  });

  it("x-user-id / -name / -email from the BFF's answer, replacing the ones the client sent", async () => {
    const res = await httpRequest(`${nginx.url}/api/agents/anything`, {
      headers: { authorization: `Bearer ${await bff.token('alice')}`, 'x-user-name': 'admin', 'x-user-id': 'root', 'x-user-email': 'root@example.com' },
    });
    expect(res.status).toBe(200);
    const h = seen.at(-1)!;
    expect(h['x-user-name']).toBe('alice');
    expect(h['x-user-id']).toBe('7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11');
    expect(h['x-user-email']).toBe('alice@example.com');
  });

  it('a denied request never reaches the agents upstream', async () => {
    const before = seen.length;
    expect((await httpRequest(`${nginx.url}/api/agents`, { headers: { 'x-user-name': 'admin' } })).status).toBe(401);
    expect((await httpRequest(`${nginx.url}/api/agents`, { headers: { authorization: `Bearer ${await bff.token('viewer')}` } })).status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it('a ticket in a client-sent X-Forwarded-Uri opens nothing (401, the agents upstream never reached), and the real ticketed upgrade still works once', async () => {
    const alice = await bff.token('alice');
    const created = await httpRequest(`${bff.url}/api/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'forwarded-uri' }),
    });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { id: string }).id;
    const issued = await httpRequest(`${bff.url}/api/agents/${id}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(issued.status).toBe(201);
    const ticket = (JSON.parse(issued.body) as { ticket: string }).ticket;
    const forged = { 'x-forwarded-uri': `/api/agents/${id}/react?ticket=${ticket}` };
    const before = seen.length;
    // The issue's attack: no ticket in the URL nginx routes on, the ticket in a header the client wrote. Twice: never reusable.
    for (let i = 0; i < 2; i++) {
      expect((await httpRequest(`${nginx.url}/api/agents/${id}/react`, { headers: forged })).status).toBe(401);
      const upgrade = await openAgentSocket(`${nginx.url.replace(/^http/, 'ws')}/api/agents/${id}/react`, { headers: forged });
      expect(isRefused(upgrade) && upgrade.status).toBe(401);
    }
    expect(seen.length).toBe(before);
    // The ticket was never consumed by the refusals, and a real ?ticket= upgrade goes to the BFF and streams.
    const s = await openAgentSocket(`${nginx.url.replace(/^http/, 'ws')}/api/agents/${id}/react?ticket=${ticket}`);
    if (isRefused(s)) throw new Error(`the ticketed upgrade was refused: ${s.status} ${s.body}`);
    expect((await s.turn('ticket after the forged ones')).text).toBe(llmReplyFor('ticket after the forged ones'));
    s.ws.close();
    await s.closed;
    expect(seen.length).toBe(before);
  });

  it('everything else goes to the BFF itself (which authenticates it)', async () => {
    const before = seen.length;
    const me = await httpRequest(`${nginx.url}/auth/me`, { headers: { authorization: `Bearer ${await bff.token('admin')}` } });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ username: 'admin' });
    expect((await httpRequest(`${nginx.url}/health/live`)).status).toBe(200);
    expect(seen.length).toBe(before);
  });
});
