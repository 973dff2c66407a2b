import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../net';
import { spawnProcess, type ManagedProcess } from '../processes';

/**
 * A throwaway PostgreSQL from Debian's `postgresql` package (scripts/fetch-trino.sh installs it when
 * missing) for the real Trino Gateway: initdb into a temporary directory, one database and one
 * password-authenticated role, listening on a free loopback port only, no socket outside the directory.
 * PostgreSQL refuses to run as root: as root the cluster belongs to Debian's `postgres` user. Stopped by
 * pid (fast shutdown), the directory removed.
 */
export interface Postgres {
  readonly port: number;
  readonly jdbcUrl: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<major>/bin of the machine, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? join(root, majors[0], 'bin') : undefined;
}

export async function startPostgres(opts: { database: string; user: string; password: string }): Promise<Postgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian package postgresql): run scripts/fetch-trino.sh');
  const dir = mkdtempSync(join(tmpdir(), 'platform-postgres-'));
  const asRoot = process.getuid?.() === 0;
  // As root: everything below runs as Debian's postgres user, which must own the directory.
  const owner = asRoot
    ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
    : undefined;
  const run = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${opts.password}\n`, { mode: 0o600 });
  if (owner) {
    chmodSync(dir, 0o700);
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = run(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    opts.user,
    `--pwfile=${pwfile}`,
    '--auth=scram-sha-256',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  rmSync(pwfile);

  const port = await freePort();
  const [cmd, args] = run(join(bin, 'postgres'), [
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    // A test database: no durability, little memory.
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'shared_buffers=16MB',
    '-c',
    'max_connections=40',
  ]);
  const proc = await spawnProcess(cmd, {
    name: 'postgres',
    args,
    processGroup: true,
    readyLine: /database system is ready to accept connections/,
    timeoutMs: 60_000,
  });
  const psql = join(bin, 'psql');
  execFileSync(
    psql,
    ['-h', '127.0.0.1', '-p', String(port), '-U', opts.user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE "${opts.database}"`],
    {
      env: { ...process.env, PGPASSWORD: opts.password },
      stdio: 'pipe',
    },
  );
  return {
    port,
    jdbcUrl: `jdbc:postgresql://127.0.0.1:${port}/${opts.database}`,
    process: proc,
    async stop() {
      // SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for the gateway's pooled connections).
      await proc.stop({ signal: 'SIGINT', graceMs: 15_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
