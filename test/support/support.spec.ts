import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { canConnect, freePort, httpRequest, waitUntil } from './net';
import { spawnNode } from './processes';
import { redisAvailable, startRedis } from './redis';
import { buildNginxConf, nginxAvailable, nginxTest, startNginx } from './nginx';
import { chromiumAvailable, launchChromium } from './browser';
import { fileSetUp } from './file-set-up';

jest.setTimeout(30_000);

const SETUP_HINT = 'run `scripts/setup.sh --test` first';

/** A node:http server on a free loopback port; always close() it in the test. */
async function startHttp(handler: http.RequestListener): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

describe('net', () => {
  it('freePort returns a bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    expect(await canConnect(port)).toBe(true);
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    expect(await canConnect(port)).toBe(false);
  });
});

describe('processes', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bff-proc-spec-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const script = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };

  it('spawnNode waits for readyLine, captures output, and stop() uses SIGTERM', async () => {
    const file = script(
      'ok.js',
      `console.log('booting', process.env.GREETING);
       console.error('a warning');
       setTimeout(() => console.log('server listening on 1234'), 100);
       process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
       setInterval(() => {}, 1000);`,
    );
    const p = await spawnNode(file, { env: { GREETING: 'hello' }, readyLine: /listening on (\d+)/ });
    expect(p.running()).toBe(true);
    expect(p.stdout()).toContain('booting hello');
    expect(p.stderr()).toContain('a warning');
    expect((await p.waitForOutput(/listening on (\d+)/))[1]).toBe('1234');
    const exit = await p.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toContain('got SIGTERM');
    expect(p.running()).toBe(false);
  });

  it('spawnNode with ready(): and stop() waits out the grace period, then falls back to SIGKILL', async () => {
    const file = script(
      'stubborn.js',
      `const http = require('node:http');
       process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
       process.on('SIGUSR2', () => process.exit(3));
       http.createServer((q, s) => s.end('up')).listen(Number(process.env.PORT), '127.0.0.1');`,
    );
    const start = async () => {
      const port = await freePort();
      const p = await spawnNode(file, { env: { PORT: String(port) }, ready: () => canConnect(port) });
      expect((await httpRequest(`http://127.0.0.1:${port}/`)).body).toBe('up');
      return { p, port };
    };
    // Within the grace period the process is left alone: it ends by itself (told to here, once SIGTERM was ignored).
    const patient = await start();
    const stopping = patient.p.stop({ graceMs: 60_000 });
    await patient.p.waitForOutput(/ignoring SIGTERM/);
    patient.p.child.kill('SIGUSR2');
    expect(await stopping).toEqual({ code: 3, signal: null });
    // After it, SIGKILL.
    const { p, port } = await start();
    const exit = await p.stop({ graceMs: 500 });
    expect(exit.signal).toBe('SIGKILL');
    expect(await canConnect(port)).toBe(false);
  });

  it('rejects with the output when the process dies before it is ready', async () => {
    const file = script('dies.js', `console.error('config error: BFF_PORT missing'); process.exit(3);`);
    await expect(spawnNode(file, { readyLine: /listening/ })).rejects.toThrow(/exited with code 3[\s\S]*config error: BFF_PORT missing/);
  });

  it('rejects and kills the process when it is not ready in time', async () => {
    const file = script('slow.js', `console.log('pid', process.pid); setInterval(() => {}, 1000);`);
    await expect(spawnNode(file, { readyLine: /never/, timeoutMs: 300 })).rejects.toThrow(/timed out/);
  });
});

describe('redis', () => {
  beforeAll(() => {
    if (!redisAvailable()) throw new Error(`redis-server not installed: ${SETUP_HINT}`);
  });

  it('starts on a free port, answers PING, survives kill + restart without persistence', async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await redis.command('PING')).toBe('+PONG');
      expect(await redis.command('SET', 'k', 'v 1')).toBe('+OK');
      expect(await redis.command('GET', 'k')).toBe('v 1');
      expect(await redis.command('CONFIG', 'GET', 'save')).toBe('*2');

      await redis.kill();
      expect(await canConnect(redis.port)).toBe(false);
      await expect(redis.command('PING')).rejects.toThrow(/ECONNREFUSED/);

      await redis.restart();
      expect(await redis.command('PING')).toBe('+PONG');
      expect(await redis.command('GET', 'k')).toBe('(nil)'); // nothing persisted

      await redis.command('SET', 'k2', 'x');
      await redis.restart(); // restart while running = stop + start
      expect(await redis.command('GET', 'k2')).toBe('(nil)');
    } finally {
      await redis.stop();
    }
    expect(await canConnect(redis.port)).toBe(false);
  });

  it('uses the given port, and fails clearly when it is taken', async () => {
    const port = await freePort();
    const redis = await startRedis({ port });
    try {
      expect(redis.port).toBe(port);
      expect(await redis.command('PING')).toBe('+PONG');
      await expect(startRedis({ port, timeoutMs: 3000 })).rejects.toThrow(/Address already in use/);
      expect(await redis.command('PING')).toBe('+PONG');
    } finally {
      await redis.stop();
    }
  });
});

describe('nginx', () => {
  beforeAll(() => {
    if (!nginxAvailable()) throw new Error(`nginx with http_auth_request not installed: ${SETUP_HINT}`);
  });

  it('serves a static block, logs access, and stops', async () => {
    const nginx = await startNginx({
      serverBlock: `
        location = /healthz { default_type text/plain; return 200 "ok"; }
        location / { return 404; }`,
    });
    try {
      const res = await httpRequest(`${nginx.url}/healthz`);
      expect(res.status).toBe(200);
      expect(res.body).toBe('ok');
      expect(res.headers['content-type']).toBe('text/plain');
      expect((await httpRequest(`${nginx.url}/nope`)).status).toBe(404);
      // nginx writes a request's access-log line after its response (the log phase): wait for the second line.
      await waitUntil(() => nginx.accessLog().includes('/nope'), { what: 'the access-log line of /nope' });
      expect(nginx.accessLog()).toMatch(/"GET \/healthz HTTP\/1\.1" 200 2 /);
      expect(nginx.accessLog()).toMatch(/"GET \/nope HTTP\/1\.1" 404 /);
      expect(nginx.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
    } finally {
      await nginx.stop();
    }
    expect(await canConnect(nginx.port)).toBe(false);
  });

  it('also runs with a master process (workers as root)', async () => {
    const nginx = await startNginx({ serverBlock: 'location / { return 200 "m"; }', masterProcess: true });
    try {
      expect((await httpRequest(nginx.url)).body).toBe('m');
    } finally {
      await nginx.stop();
    }
    expect(await canConnect(nginx.port)).toBe(false);
  });

  it('fails clearly when the port is taken (not fooled by the other server answering)', async () => {
    const other = await startHttp((_req, res) => res.end('other'));
    try {
      await expect(startNginx({ serverBlock: 'location / { return 200; }', port: other.port })).rejects.toThrow(/Address already in use/);
    } finally {
      await other.close();
    }
  });

  it('nginxTest / startNginx report config errors', async () => {
    const good = buildNginxConf({ serverBlock: 'location / { return 200; }', port: 8080, dir: '/tmp/x' });
    expect(good).toContain('listen 127.0.0.1:8080;');
    expect(nginxTest(good.split('/tmp/x').join(os.tmpdir()))).toEqual({ ok: true, output: expect.any(String) });

    const bad = nginxTest('events {}\nhttp { server { lisen 80; } }\n');
    expect(bad.ok).toBe(false);
    expect(bad.output).toMatch(/unknown directive "lisen"/);

    await expect(startNginx({ serverBlock: 'location / { proxy_pas http://x; }' })).rejects.toThrow(/nginx config is invalid[\s\S]*unknown directive "proxy_pas"/);
  });

  it('auth_request: allow, deny, auth error, and auth_request_set header propagation', async () => {
    const authCalls: Array<Record<string, string | string[] | undefined>> = [];
    const auth = await startHttp((req, res) => {
      authCalls.push(req.headers);
      if (req.headers['x-auth-fail'] === '1') {
        res.writeHead(500).end('auth broke');
      } else if (req.headers['x-ok'] === '1') {
        res.writeHead(200, { 'x-auth-user': 'alice', 'x-auth-roles': 'admin,viewer' }).end();
      } else {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="bff"' }).end('denied');
      }
    });
    const upstreamCalls: string[] = [];
    const upstream = await startHttp((req, res) => {
      upstreamCalls.push(req.url ?? '');
      if (req.url === '/boom') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream failed');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ url: req.url, user: req.headers['x-user'] ?? null, roles: req.headers['x-roles'] ?? null }));
    });
    const nginx = await startNginx({
      serverBlock: `
        location = /_auth {
          internal;
          proxy_pass http://127.0.0.1:${auth.port}/check;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_set_header X-Original-URI $request_uri;
        }
        location / {
          auth_request /_auth;
          auth_request_set $auth_user $upstream_http_x_auth_user;
          auth_request_set $auth_roles $upstream_http_x_auth_roles;
          proxy_set_header X-User $auth_user;
          proxy_set_header X-Roles $auth_roles;
          proxy_pass http://127.0.0.1:${upstream.port};
        }`,
    });
    try {
      // allowed: proxied, with the header copied from the auth response
      const ok = await httpRequest(`${nginx.url}/api/v1/me?x=1`, { headers: { 'x-ok': '1' } });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toEqual({ url: '/api/v1/me?x=1', user: 'alice', roles: 'admin,viewer' });
      expect(authCalls[0]['x-original-uri']).toBe('/api/v1/me?x=1');
      expect(authCalls[0]['x-ok']).toBe('1'); // client headers reach the auth subrequest

      // denied: 401 passes through (with WWW-Authenticate), upstream never called
      const denied = await httpRequest(`${nginx.url}/api/v1/me`);
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toBe('Bearer realm="bff"');
      expect(upstreamCalls).toEqual(['/api/v1/me?x=1']);

      // the auth server failing (500) becomes a 500 from nginx
      const authErr = await httpRequest(`${nginx.url}/api/v1/me`, { headers: { 'x-ok': '1', 'x-auth-fail': '1' } });
      expect(authErr.status).toBe(500);
      expect(upstreamCalls).toHaveLength(1);

      // an allowed request whose upstream fails passes the upstream's 500 through
      const boom = await httpRequest(`${nginx.url}/boom`, { headers: { 'x-ok': '1' } });
      expect(boom.status).toBe(500);
      expect(boom.body).toBe('upstream failed');

      // a client cannot inject the identity header: proxy_set_header replaces it with the auth result
      const injected = await httpRequest(`${nginx.url}/x`, { headers: { 'x-ok': '1', 'x-user': 'mallory' } });
      expect(JSON.parse(injected.body).user).toBe('alice');

      // the auth server being down is a 500 as well, and the reason is in the error log
      await auth.close();
      const authDown = await httpRequest(`${nginx.url}/api/v1/me`, { headers: { 'x-ok': '1' } });
      expect(authDown.status).toBe(500);
      expect(nginx.errorLog()).toMatch(/connect\(\) failed \(111: Connection refused\)/);

      // nginx writes the access-log line after the response: wait for all six.
      const statuses = () =>
        nginx
          .accessLog()
          .trim()
          .split('\n')
          .map((l) => / (\d{3}) /.exec(l.split('"')[2] ?? '')?.[1]);
      await waitUntil(async () => statuses().length >= 6, { timeoutMs: 5000, what: 'six access-log lines' });
      expect(statuses()).toEqual(['200', '401', '500', '500', '200', '500']);
    } finally {
      await nginx.stop();
      await upstream.close();
      await auth.close().catch(() => undefined);
    }
  });
});

describe('browser', () => {
  beforeAll(() => {
    if (!chromiumAvailable()) throw new Error(`chromium not installed: ${SETUP_HINT}`);
  });

  it('chromium opens a page from a node:http server (directly and through nginx)', async () => {
    const site = await startHttp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>Platform BFF ${req.url}</title></head>
        <body><p id="ua"></p><script>document.getElementById('ua').textContent = 'js ran';</script></body></html>`);
    });
    const nginx = await startNginx({ serverBlock: `location / { proxy_pass http://127.0.0.1:${site.port}; }` });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${site.url}/direct`);
      expect(await page.title()).toBe('Platform BFF /direct');
      expect(await page.textContent('#ua')).toBe('js ran');

      const resp = await page.goto(`${nginx.url}/via-nginx`);
      expect(resp?.status()).toBe(200);
      expect(await page.title()).toBe('Platform BFF /via-nginx');
      // nginx writes the access-log line after the response (the log phase).
      await waitUntil(() => nginx.accessLog().includes('GET /via-nginx HTTP/1.1" 200'), { what: 'the access-log line of /via-nginx' });
    } finally {
      await browser.close();
      await nginx.stop();
      await site.close();
    }
  });
});

describe('fileSetUp', () => {
  it('settled() waits for a start that outlived its hook, then whatever it made can be stopped', async () => {
    const setUp = fileSetUp();
    let finish!: () => void;
    const made: string[] = [];
    const starting = setUp.run(async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      made.push('gateway');
    });
    let settled = false;
    void setUp.settled().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    // The hook has "timed out": the start is still going on, and settled() has not ended.
    expect([settled, made]).toEqual([false, []]);
    finish();
    await setUp.settled();
    expect(made).toEqual(['gateway']);
    await starting;
  });

  it('settled() ends (and does not throw) when the start failed', async () => {
    const setUp = fileSetUp();
    const starting = setUp.run(() => Promise.reject(new Error('port taken')));
    await expect(setUp.settled()).resolves.toBeUndefined();
    await expect(starting).rejects.toThrow('port taken');
  });
});
