import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page, Response } from 'playwright-core';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { demoUsers, type SandboxUser } from '../../sandbox/oidc-issuer';
import { startTestBff, type TestBff } from '../support/app';
import { launchChromium } from '../support/browser';
import { usersAtEachLevel, type Level } from '../support/mlflow-levels';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

jest.setTimeout(900_000);

/** What ui-seed.py made in one experiment; every name carries the marker. */
interface Seeded {
  marker: string;
  experiment_id: string;
  run_id: string;
  model_id: string;
  trace_id: string;
  registered_model: string;
  prompt: string;
}

interface PageCase {
  name: string;
  hash: (s: Seeded) => string;
  /** Text the page shows to a user who may read the experiment (and not to one who may not); absent where the page does not work yet. */
  shows?: (s: Seeded) => string;
}

const PAGES: PageCase[] = [
  { name: 'experiments list', hash: () => '#/experiments', shows: (s) => `experiment-${s.marker}` },
  { name: 'runs table', hash: (s) => `#/experiments/${s.experiment_id}/runs`, shows: (s) => `run-${s.marker}` },
  // The run page loads the experiment and the run through GraphQL.
  { name: 'run page', hash: (s) => `#/experiments/${s.experiment_id}/runs/${s.run_id}`, shows: (s) => `param-${s.marker}` },
  { name: 'run charts', hash: (s) => `#/experiments/${s.experiment_id}/runs/${s.run_id}/model-metrics`, shows: (s) => `loss-${s.marker}` },
  { name: 'run artifacts', hash: (s) => `#/experiments/${s.experiment_id}/runs/${s.run_id}/artifacts`, shows: (s) => `notes-${s.marker}.txt` },
  { name: 'traces', hash: (s) => `#/experiments/${s.experiment_id}/traces` },
  { name: 'logged models', hash: (s) => `#/experiments/${s.experiment_id}/models`, shows: (s) => `model-${s.marker}` },
  { name: 'registered models', hash: () => '#/models', shows: (s) => `registry-${s.marker}` },
  { name: 'prompts', hash: () => '#/prompts' },
];

const API = /^\/(?:ajax-api|api|graphql|get-artifact|get-trace-artifact|model-versions)(?:\/|$)/;

interface Seen {
  page: string;
  method: string;
  status: number;
  /** Path after /mlflow, without the query. */
  path: string;
  body: Promise<string>;
}

const user = (username: string): SandboxUser => ({
  sub: `sub-${username}`,
  username,
  password: username,
  email: `${username}@example.com`,
  name: username,
  roles: [],
  groups: [],
});

/**
 * The real MLflow UI (docker/mlflow/VERSION) through the BFF in a headless Chromium, logged in through
 * the BFF's browser login (the sandbox issuer's login page), for a user with MANAGE, one with EDIT, one
 * with READ on an experiment, and one with no grant, on the main pages. The network log shows no
 * refusal of what the user may see, and nothing of another user's experiment — nor, for the user without a grant, of this one — reaches
 * the page, in any answer or on the screen.
 */
describe('the real MLflow UI through the BFF, in Chromium, at each permission level', () => {
  let mlflow: RealMlflow;
  let sandbox: Sandbox;
  let bff: TestBff;
  let browser: Browser;
  let visible: Seeded;
  let hidden: Seeded;

  async function seed(experimentId: string, marker: string): Promise<Seeded> {
    const env = { ...process.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_ENABLE_ASYNC_TRACE_LOGGING: 'false', PYTHONUNBUFFERED: '1' };
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(mlflow.python, [join(__dirname, 'ui-seed.py'), JSON.stringify({ experiment_id: experimentId, marker })], { env }, (err, out, errOut) =>
        err ? reject(new Error(`ui-seed.py: ${err.message}\n${errOut.slice(-4000)}`)) : resolve(out),
      ),
    );
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`ui-seed.py printed no result:\n${stdout}`);
    return { marker, ...(JSON.parse(line.slice('RESULT '.length)) as Omit<Seeded, 'marker'>) };
  }

  const tokenOf = (username: string) => sandbox.issuer.issueToken({ user: username });

  /** The owner creates the experiment through the BFF (and so manages it); the seed fills it. */
  async function experimentOf(owner: string, marker: string): Promise<Seeded> {
    const res = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenOf(owner)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `experiment-${marker}` }),
    });
    const made = (await res.json()) as { experiment_id?: string };
    if (res.status !== 200 || !made.experiment_id) throw new Error(`creating experiment-${marker}: ${res.status} ${JSON.stringify(made)}`);
    return seed(made.experiment_id, marker);
  }

  beforeAll(async () => {
    const names = ['ui-owner', 'ui-other', 'ui-manage', 'ui-edit', 'ui-read', 'ui-no_permissions'];
    [mlflow, sandbox, browser] = await Promise.all([startRealMlflow(), startSandbox({ users: [...demoUsers(), ...names.map(user)] }), launchChromium()]);
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, BFF_SESSION_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'silent' }, { sandbox });
    const hex = () => randomBytes(4).toString('hex');
    [visible, hidden] = await Promise.all([experimentOf('ui-owner', `vis${hex()}`), experimentOf('ui-other', `hid${hex()}`)]);
    await usersAtEachLevel(bff.url, await tokenOf('ui-owner'), visible.experiment_id, 'ui', tokenOf);
    // A registered model the owner makes through the BFF (so the BFF knows its owner), with the same levels granted on it.
    const owner = { authorization: `Bearer ${await tokenOf('ui-owner')}`, 'content-type': 'application/json' };
    const model = `registry-${visible.marker}`;
    const made = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/registered-models/create`, { method: 'POST', headers: owner, body: JSON.stringify({ name: model }) });
    expect(made.status).toBe(200);
    for (const level of ['MANAGE', 'EDIT', 'READ']) {
      const put = await fetch(`${bff.url}/mlflow-permissions/registered-models/${model}/users/ui-${level.toLowerCase()}`, {
        method: 'PUT',
        headers: owner,
        body: JSON.stringify({ permission: level }),
      });
      expect(put.status).toBe(200);
    }
  });
  afterAll(async () => {
    await browser?.close();
    await bff?.close();
    await sandbox?.close();
    await mlflow?.stop();
  });

  /** Signs in through the BFF's login (the issuer's login page) and visits every page, keeping the network log. */
  async function browse(level: Level): Promise<{ seen: Seen[]; screens: Map<string, string> }> {
    const context = await browser.newContext();
    const page: Page = await context.newPage();
    const seen: Seen[] = [];
    let current = 'login';
    const prefix = `${bff.url}/mlflow`;
    page.on('response', (r: Response) => {
      if (!r.url().startsWith(prefix)) return;
      const url = new URL(r.url());
      const path = url.pathname.slice('/mlflow'.length);
      if (!API.test(path)) return;
      seen.push({ page: current, method: r.request().method(), status: r.status(), path, body: r.text().catch(() => '') });
    });
    const username = `ui-${level.toLowerCase()}`;
    await page.goto(`${prefix}/`);
    await page.locator('#kc-form-login').waitFor();
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(username);
    await page.locator('#kc-login').click();
    await page.waitForURL(`${prefix}/**`);
    const screens = new Map<string, string>();
    for (const p of PAGES) {
      current = p.name;
      await page.goto(`${prefix}/${p.hash(visible)}`);
      if (p.shows && level !== 'NO_PERMISSIONS') await page.getByText(p.shows(visible)).first().waitFor({ timeout: 60_000 });
      // Let the page's other calls come back (the UI polls some: this is a pause, not a measurement).
      await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => undefined);
      await page.waitForTimeout(1500);
      screens.set(p.name, await page.locator('body').innerText());
    }
    await Promise.all(seen.map((s) => s.body));
    await context.close();
    return { seen, screens };
  }

  /**
   * What must never reach this user: anything of the other user's experiment; without a grant, the names in
   * this one too (not its ids: the pages' addresses hold them, and a refusal may repeat the id it refuses).
   */
  const secretsFor = (level: Level) => {
    const all = [hidden.marker, hidden.run_id, hidden.model_id, hidden.trace_id];
    return level === 'NO_PERMISSIONS' ? [...all, visible.marker] : all;
  };

  async function leaks(level: Level, seen: Seen[], screens: Map<string, string>): Promise<string[]> {
    const found: string[] = [];
    for (const secret of secretsFor(level)) {
      for (const s of seen) if ((await s.body).includes(secret)) found.push(`${s.page}: ${s.method} ${s.path} answered ${secret}`);
      for (const [name, text] of screens) if (text.includes(secret)) found.push(`${name}: the screen shows ${secret}`);
    }
    return found;
  }

  it.each(['MANAGE', 'EDIT', 'READ'] as Level[])('%s: every page works, nothing of another experiment arrives', async (level) => {
    const { seen, screens } = await browse(level);
    const refused = seen.filter((s) => s.status >= 400).map((s) => `${s.page}: ${s.method} ${s.path} → ${s.status}`);
    const missing = PAGES.filter((p) => p.shows && !screens.get(p.name)!.includes(p.shows(visible))).map((p) => p.name);
    expect({ refused, missing, leaks: await leaks(level, seen, screens) }).toEqual({ refused: [], missing: [], leaks: [] });
    // The pages read the experiment's runs, models and traces, and the server's info, through the BFF.
    const answered = (path: string) => seen.some((s) => s.path === path && s.status === 200);
    const reads = [
      '/ajax-api/2.0/mlflow/experiments/search',
      '/ajax-api/2.0/mlflow/runs/search',
      '/ajax-api/2.0/mlflow/logged-models/search',
      '/graphql',
      '/ajax-api/3.0/mlflow/traces/search',
      '/ajax-api/3.0/mlflow/server-info',
    ];
    expect(reads.filter(answered)).toEqual(reads);
  });

  it('no grant: the lists are empty, the experiment’s pages are refused, and nothing of it arrives', async () => {
    const { seen, screens } = await browse('NO_PERMISSIONS');
    expect(await leaks('NO_PERMISSIONS', seen, screens)).toEqual([]);
    // The searches are answered (empty), not refused: the user may search, there is nothing to see.
    const searches = seen.filter((s) => /\/(?:experiments|runs|logged-models)\/search$/.test(s.path));
    expect(searches.length).toBeGreaterThan(0);
    expect(searches.filter((s) => s.status !== 200).map((s) => `${s.method} ${s.path} → ${s.status}`)).toEqual([]);
    // The experiment itself is refused, through REST and through GraphQL (the experiment and run pages).
    const gets = seen.filter((s) => s.path === '/ajax-api/2.0/mlflow/experiments/get' || s.path === '/graphql');
    expect(new Set(gets.map((s) => s.path))).toEqual(new Set(['/ajax-api/2.0/mlflow/experiments/get', '/graphql']));
    expect(new Set(gets.map((s) => s.status))).toEqual(new Set([403]));
  });
});
