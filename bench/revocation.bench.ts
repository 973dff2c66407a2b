/**
 * Logout to closed door (issue 20 item 4): two BFF replicas (built, as processes) on one redis-server,
 * under load from many sessions, and repeated logouts at the identity provider. For each logout: the
 * time from the logout request to the start of the last request of that session any replica accepted,
 * and how many requests of that session were accepted after the logout had answered (the identity
 * provider answers after its back-channel logout reached replica A).
 *
 * The identity provider is the sandbox issuer (in this process), which posts its back-channel logouts as
 * Keycloak 26 does (test/platform/revocation-scenarios.ts checks that both send the same logout token);
 * its back-channel logout URL is replica A's, replica B hears of logouts through Valkey.
 *
 *   npm run build && node dist/app/bench/revocation.bench.js
 *
 * Options (env): BENCH_SESSIONS (40 sessions under load), BENCH_LOGOUTS (30), BENCH_WORKERS (2 request
 * loops per session, one per replica), BENCH_AFTER_MS (1500: how long each logged-out session is still tried).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, SANDBOX_FRONTEND_CLIENT_ID } from '../sandbox/index';
import { freePort, startBffProcess } from './lib';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 40);
const LOGOUTS = Number(process.env.BENCH_LOGOUTS ?? 30);
const AFTER_MS = Number(process.env.BENCH_AFTER_MS ?? 1500);
const now = () => performance.timeOrigin + performance.now();

interface Session {
  user: string;
  token: string;
  refresh: string;
  /** Start times of the accepted requests (epoch ms, high resolution), and the refused ones' count. */
  accepted: number[];
  refused: number;
  stop: boolean;
}

async function main(): Promise<void> {
  const sandbox = await startSandbox();
  const issuer = sandbox.issuer;
  const redisPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-revocation-'));
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const env = { ...sandbox.env, NODE_ENV: 'test', VALKEY_URL: `redis://127.0.0.1:${redisPort}`, RATE_LIMIT_PER_MINUTE: '0' };
  const a = await startBffProcess(env);
  const b = await startBffProcess(env);
  issuer.clients.get(SANDBOX_FRONTEND_CLIENT_ID)!.backchannelLogoutUrl = `${a.url}/auth/backchannel-logout`;
  await new Promise((r) => setTimeout(r, 1000)); // both replicas connected to Valkey

  const users = issuer.users.filter((u) => u.username !== 'viewer');
  const login = async (i: number): Promise<Session> => {
    const u = users[i % users.length];
    const res = await fetch(issuer.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: SANDBOX_FRONTEND_CLIENT_ID, username: u.username, password: u.password }),
    });
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    return { user: u.username, token: body.access_token, refresh: body.refresh_token, accepted: [], refused: 0, stop: false };
  };
  /** One request loop of a session against one replica: GET /auth/me (the fast path once verified), back to back. */
  const loop = async (s: Session, base: string) => {
    while (!s.stop) {
      const started = now();
      try {
        const res = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${s.token}` } });
        await res.arrayBuffer();
        if (res.status === 200) s.accepted.push(started);
        else s.refused++;
      } catch {
        s.refused++;
      }
    }
  };
  const load = async (s: Session) => Promise.all([loop(s, a.url), loop(s, b.url)]);

  // Background sessions that are never logged out: the load the logouts happen under.
  const background = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => login(i)));
  const backgroundDone = background.map(load);
  const results: Array<{ lastAcceptedMs: number; acceptedAfterAnswer: number; logoutMs: number }> = [];
  for (let i = 0; i < LOGOUTS; i++) {
    const s = await login(i);
    const running = load(s);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = now();
    const res = await fetch(`${issuer.issuer}/protocol/openid-connect/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: SANDBOX_FRONTEND_CLIENT_ID, refresh_token: s.refresh }),
    });
    await res.arrayBuffer();
    const t1 = now();
    await new Promise((r) => setTimeout(r, AFTER_MS));
    s.stop = true;
    await running;
    const last = Math.max(t0, ...s.accepted);
    results.push({ lastAcceptedMs: last - t0, acceptedAfterAnswer: s.accepted.filter((t) => t > t1).length, logoutMs: t1 - t0 });
  }
  for (const s of background) s.stop = true;
  await Promise.all(backgroundDone);
  const background200 = background.reduce((n, s) => n + s.accepted.length, 0);
  const backgroundRefused = background.reduce((n, s) => n + s.refused, 0);

  const pct = (xs: number[], p: number) => {
    const sorted = [...xs].sort((x, y) => x - y);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  };
  const last = results.map((r) => r.lastAcceptedMs);
  const fmt = (x: number) => x.toFixed(1);
  process.stdout.write(
    [
      `logouts: ${LOGOUTS}, background sessions: ${SESSIONS} (2 request loops each, one per replica), load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`,
      `logout request → last accepted request of the session (ms): p50 ${fmt(pct(last, 50))}, p99 ${fmt(pct(last, 99))}, max ${fmt(Math.max(...last))}`,
      `logout answered (ms, includes the back-channel call to replica A): p50 ${fmt(
        pct(
          results.map((r) => r.logoutMs),
          50,
        ),
      )}, max ${fmt(Math.max(...results.map((r) => r.logoutMs)))}`,
      `requests of a logged-out session accepted after its logout answered: ${results.reduce((n, r) => n + r.acceptedAfterAnswer, 0)} (per logout: ${results.map((r) => r.acceptedAfterAnswer).join(',')})`,
      `background sessions: ${background200} requests accepted, ${backgroundRefused} refused`,
      '',
    ].join('\n'),
  );
  await a.stop();
  await b.stop();
  redis.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  await sandbox.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
