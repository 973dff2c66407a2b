import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnProcess, type ManagedProcess } from '../support/processes';
import { startSandboxBff, type SandboxBff } from './bff-process';

/**
 * schemathesis (property-based API testing, pinned in test/e2e/schemathesis-requirements.txt and
 * installed by scripts/setup-schemathesis.sh) against the built app in sandbox mode: every operation
 * of openapi/openapi.json, with cases generated from the spec — its examples, boundary values
 * (coverage), random valid and invalid data (fuzzing) and chains of calls (stateful) — once as ADMIN
 * and once as a REGULAR user, each with the printed demo token. It fails with schemathesis' report
 * (each failure with a curl line to reproduce it, credentials filtered) when a response is a 5xx, has
 * a status, content type, header or body the spec does not declare for it, when a request without
 * the token is not refused, or when invalid data is accepted.
 *
 * Bounded: at most MAX_EXAMPLES cases per operation and phase, one worker, a fixed seed (the same
 * cases every run; change SCHEMATHESIS_SEED to explore others). About 60-80 s per pass here.
 *
 * Every check runs except two, which judge what a schema cannot say:
 * - positive_data_acceptance: expects every schema-valid request to succeed, but a valid request can
 *   rightly be refused for its data — an agent or experiment that is not there or not the caller's
 *   (404/403), SQL that Trino rejects, a `userToken` that is not the request's own token or an
 *   `access-token` beside a different bearer (400 ambiguous_token).
 * - unsupported_method: expects 405 for a method the spec does not list on a path (TRACE, QUERY);
 *   the BFF answers a method no route has like any unknown route (404, or 400 before routing), and
 *   /api/auth and /api/validate take every method by design.
 * No operation is excluded: in the sandbox every upstream is an emulator, so writes (agents, gateway
 * backends, routing rules, MLflow) change nothing real.
 */
const MAX_EXAMPLES = 15;
const SEED = process.env.SCHEMATHESIS_SEED ?? '20261203';
const EXCLUDED_CHECKS = ['positive_data_acceptance', 'unsupported_method'];
const VENV = process.env.SCHEMATHESIS_VENV ?? join(homedir(), '.cache/platform-bff/venv-schemathesis');
const ST = join(VENV, 'bin/st');
const SPEC = join(__dirname, '../../openapi/openapi.json');

jest.setTimeout(600_000);

describe('schemathesis against the built app in sandbox mode', () => {
  let bff: SandboxBff;
  let workdir: string;
  let running: ManagedProcess | undefined;

  beforeAll(async () => {
    if (!existsSync(ST)) throw new Error(`${ST} is missing: run scripts/setup-schemathesis.sh (npm test runs it through scripts/setup.sh --test)`);
    // schemathesis writes nothing into the repository: it runs in a scratch directory, without its example database.
    workdir = mkdtempSync(join(tmpdir(), 'bff-schemathesis-'));
    // The token reaches schemathesis through its environment, never its command line (visible in ps).
    writeFileSync(join(workdir, 'schemathesis.toml'), 'headers = { Authorization = "Bearer ${ST_TOKEN}" }\n');
    bff = await startSandboxBff();
  });
  afterAll(async () => {
    await running?.kill();
    await bff?.stop();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  async function schemathesis(token: string): Promise<{ code: number | null; output: string }> {
    running = await spawnProcess(ST, {
      name: 'schemathesis',
      cwd: workdir,
      env: { ST_TOKEN: token, NO_COLOR: '1', COLUMNS: '120' },
      args: [
        '--config-file',
        join(workdir, 'schemathesis.toml'),
        'run',
        SPEC,
        '--url',
        bff.url,
        '--checks',
        'all',
        '--exclude-checks',
        EXCLUDED_CHECKS.join(','),
        '--max-examples',
        String(MAX_EXAMPLES),
        '--seed',
        SEED,
        '--workers',
        '1',
        '--request-timeout',
        '20',
        // The machine is shared; the response time of a sandbox is not what this tier judges (bench/ does).
        '--suppress-health-check',
        'too_slow',
        '--generation-database',
        'none',
        '--no-color',
      ],
    });
    const exit = await running.exited;
    return { code: exit.code, output: running.output() };
  }

  it.each([
    { user: 'admin', role: 'ADMIN' },
    { user: 'alice', role: 'REGULAR' },
  ] as const)('finds nothing as $user ($role): no 5xx, every response as the spec declares it', async ({ user }) => {
    const { code, output } = await schemathesis(bff.tokens[user]);
    if (code !== 0) throw new Error(`schemathesis as ${user} exited with ${code}:\n${output}`);
    expect(output).toMatch(/No issues found|passed/);
  });
});
