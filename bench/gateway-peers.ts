import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './lib';

/**
 * The gateway side of `npm run bench:peers`: one real nginx with two identical `auth_request` front
 * doors to the same upstream, one asking the BFF's /api/auth, the other oauth2-proxy's /oauth2/auth
 * (bearer JWTs verified against the same issuer: `--skip-jwt-bearer-tokens`). oauth2-proxy is built
 * at bench time by scripts/fetch-oauth2-proxy.sh into a cache outside the repository.
 */

export interface Started {
  pid: number;
  stop(): Promise<void>;
}

/** The repository's scripts/ (dist/app/bench/… → the repository root; or the working directory's). */
function scriptPath(name: string): string {
  const found = [join(__dirname, '../../../scripts', name), join(process.cwd(), 'scripts', name)].find((p) => existsSync(p));
  if (!found) throw new Error(`scripts/${name} not found: run from the repository root`);
  return found;
}

/** Builds oauth2-proxy when it is not cached yet; returns the binary's path. */
export function oauth2ProxyBinary(): string {
  const r = spawnSync('bash', [scriptPath('fetch-oauth2-proxy.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const bin = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !bin) throw new Error(`scripts/fetch-oauth2-proxy.sh failed (exit ${r.status})`);
  return bin;
}

function nginxBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']) {
    try {
      accessSync(join(dir, 'nginx'), constants.X_OK);
      return join(dir, 'nginx');
    } catch {
      /* next */
    }
  }
  throw new Error('nginx is not installed (the gateway peers need it: apt-get install nginx)');
}

async function waitFor(url: string, child: ChildProcess, output: () => string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited:\n${output()}`);
    try {
      await fetch(url);
      return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not start in ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function started(child: ChildProcess, signal: NodeJS.Signals, after?: () => void): Started {
  return {
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          after?.();
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill(signal);
      }),
  };
}

function spawnLogged(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    if (out.length < 64 * 1024) out += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

/**
 * oauth2-proxy as an nginx auth_request backend: the OIDC provider is the bench's issuer with the
 * BFF's audience as client id (so its own verifier accepts the tokens, one RS256 check each), the same
 * issuer again as `--extra-jwt-issuers`, identity in X-Auth-Request-* headers, and request, auth and
 * standard logging off (the BFF runs at LOG_LEVEL=warn).
 */
export async function startOauth2Proxy(bin: string, o: { issuer: string; audience: string }): Promise<Started & { url: string }> {
  const port = await freePort();
  const { child, output } = spawnLogged(bin, [
    `--http-address=127.0.0.1:${port}`,
    '--provider=oidc',
    `--oidc-issuer-url=${o.issuer}`,
    `--client-id=${o.audience}`,
    '--client-secret=not-used-for-bearer-tokens',
    `--cookie-secret=${randomBytes(16).toString('hex')}`,
    '--cookie-secure=false',
    '--email-domain=*',
    '--skip-jwt-bearer-tokens',
    `--extra-jwt-issuers=${o.issuer}=${o.audience}`,
    '--set-xauthrequest',
    '--upstream=static://202',
    '--request-logging=false',
    '--auth-logging=false',
    '--standard-logging=false',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/ping`, child, output, 'oauth2-proxy');
  return { url, ...started(child, 'SIGTERM') };
}

/**
 * One nginx (one worker, no access log) with two front doors that differ only in the auth subrequest:
 * `bffUrl` asks the BFF's /api/auth (x-user-* back), `oauth2ProxyUrl` asks oauth2-proxy's /oauth2/auth
 * (X-Auth-Request-* back). Both pass the identity to the same upstream, an nginx location that answers
 * `{"user":"<x-user-name>"}`.
 */
export async function startGatewayNginx(o: { bffUrl: string; oauth2ProxyUrl: string }): Promise<Started & { bffUrl: string; oauth2ProxyUrl: string }> {
  const [bffDoor, o2pDoor, app] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'bff-bench-nginx-'));
  const hostPort = (u: string) => new URL(u).host;
  const door = (port: number, authUpstream: string, authPath: string, headers: { id: string; name: string; email: string }) => `
  server {
    listen 127.0.0.1:${port};
    location / {
      auth_request /_auth;
      auth_request_set $auth_user_id $upstream_http_${headers.id};
      auth_request_set $auth_user_name $upstream_http_${headers.name};
      auth_request_set $auth_user_email $upstream_http_${headers.email};
      proxy_set_header X-User-Id $auth_user_id;
      proxy_set_header X-User-Name $auth_user_name;
      proxy_set_header X-User-Email $auth_user_email;
      proxy_set_header Connection "";
      proxy_http_version 1.1;
      proxy_pass http://app;
    }
    location = /_auth {
      internal;
      proxy_pass http://${authUpstream}${authPath};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header Connection "";
      proxy_http_version 1.1;
    }
  }`;
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body_temp;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  keepalive_requests 1000000;
  upstream bff_auth { server ${hostPort(o.bffUrl)}; keepalive 64; }
  upstream oauth2_proxy { server ${hostPort(o.oauth2ProxyUrl)}; keepalive 64; }
  upstream app { server 127.0.0.1:${app}; keepalive 64; }
  server {
    listen 127.0.0.1:${app};
    location / {
      default_type application/json;
      return 200 '{"user":"$http_x_user_name"}';
    }
  }
${door(bffDoor, 'bff_auth', '/api/auth', { id: 'x_user_id', name: 'x_user_name', email: 'x_user_email' })}
${door(o2pDoor, 'oauth2_proxy', '/oauth2/auth', { id: 'x_auth_request_user', name: 'x_auth_request_preferred_username', email: 'x_auth_request_email' })}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const { child, output } = spawnLogged(nginxBinary(), ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
  const bffUrl = `http://127.0.0.1:${bffDoor}`;
  await waitFor(bffUrl, child, output, 'nginx');
  return { bffUrl, oauth2ProxyUrl: `http://127.0.0.1:${o2pDoor}`, ...started(child, 'SIGQUIT', () => rmSync(dir, { recursive: true, force: true })) };
}
