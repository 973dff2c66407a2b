import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { startSandboxBff, type SandboxBff } from './bff-process';

jest.setTimeout(60_000);

/**
 * The MLflow UI through the built BFF (`node dist/main.js` in sandbox mode: the OIDC issuer with its
 * login page, the MLflow emulator) in a real headless Chromium: the browser login (authorization
 * code + PKCE), the session cookie, permissions as the UI shows them, CSRF from a same-site page on
 * another origin, and logout.
 */
describe('the MLflow UI in a real Chromium, through the built BFF', () => {
  let bff: SandboxBff;
  let browser: Browser;
  let attacker: Server;
  let attackerUrl: string;
  let experimentId: string;

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  /** Opens the UI; without a session the browser lands on the issuer's login page and signs in there. */
  async function signIn(context: BrowserContext, user: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${bff.url}/mlflow/#/`);
    await page.locator('#kc-form-login').waitFor();
    expect(new URL(page.url()).pathname).toBe('/realms/platform/protocol/openid-connect/auth');
    await page.locator('#username').fill(user);
    await page.locator('#password').fill(user);
    await page.locator('#kc-login').click();
    await page.waitForURL(`${bff.url}/mlflow/`);
    return page;
  }

  beforeAll(async () => {
    [bff, browser] = await Promise.all([startSandboxBff(), launchChromium()]);
    const created = await api('POST', 'experiments/create', bff.tokens.admin, { name: 'e2e-experiment' });
    expect(created.status).toBe(200);
    experimentId = created.body.experiment_id as string;
    const run = await api('POST', 'runs/create', bff.tokens.alice, {
      experiment_id: experimentId,
      run_name: 'first-run',
      tags: [{ key: 'mlflow.user', value: 'mallory' }],
    });
    expect(run.status).toBe(200);
    // A page of another origin on the same site (127.0.0.1, another port): SameSite=Lax still sends the cookie.
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><form id="f" method="post" enctype="text/plain" action="${bff.url}/mlflow/ajax-api/2.0/mlflow/experiments/create">
<input name='{"name":"pwned","x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
    await bff?.stop();
  });

  it('logs in through the issuer’s login page and shows the experiments and runs the user may read', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, 'alice');
    const link = page.locator(`.experiment-link[data-experiment-id="${experimentId}"]`);
    await link.waitFor();
    expect(await link.innerText()).toBe('e2e-experiment');

    const cookies = await context.cookies(bff.url);
    const session = cookies.find((c) => c.name === 'bff_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(session!.expires).toBe(-1); // a browser-session cookie: the server decides how long it lives
    expect(cookies.some((c) => c.name === 'bff_session_login')).toBe(false); // the login-state cookie is gone

    await link.click();
    await page.locator('#experiment-name').waitFor();
    expect(await page.locator('#experiment-name').innerText()).toBe('e2e-experiment');
    // The run created through the BFF carries the real user, not the spoofed one.
    expect(await page.locator('.run-row .run-user').allInnerTexts()).toEqual(['alice']);

    // A write from the UI itself (same origin, cookie): allowed, and the creator may manage it.
    await page.goto(`${bff.url}/mlflow/#/`);
    await page.locator('#new-experiment-name').fill('made-in-the-ui');
    await page.locator('#create-experiment').click();
    await page.locator('#create-status[data-experiment-id]').waitFor();
    const madeId = await page.locator('#create-status').getAttribute('data-experiment-id');
    const mine = await fetch(`${bff.url}/mlflow-permissions/experiments/${madeId}/me`, { headers: { authorization: `Bearer ${bff.tokens.alice}` } });
    expect(await mine.json()).toMatchObject({ username: 'alice', permission: 'MANAGE', grant: 'MANAGE' });
    await context.close();
  });

  it('refuses a cross-origin form post that carries the session cookie (CSRF)', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, 'alice');
    await page.locator('#experiment-list').waitFor();
    const attack = await context.newPage();
    const answer = attack.waitForResponse((r) => r.url().endsWith('/experiments/create'));
    await attack.goto(attackerUrl);
    const res = await answer;
    expect(res.status()).toBe(403);
    expect((await res.request().allHeaders()).cookie).toContain('bff_session=');
    const lookup = await api('GET', 'experiments/get-by-name?experiment_name=pwned', bff.tokens.admin);
    expect(lookup.status).toBe(404);
    await context.close();
  });

  it('shows a user without a grant nothing, and an experiment of others as refused', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, 'viewer');
    await page.locator('#experiment-list').waitFor({ state: 'attached' }); // empty, hence not visible
    expect(await page.locator('.experiment-link').count()).toBe(0);
    await page.goto(`${bff.url}/mlflow/#/experiments/${experimentId}`);
    await page.locator('#error').waitFor();
    expect(await page.locator('#error').getAttribute('data-status')).toBe('403');
    await context.close();
  });

  it('logs out of the BFF and the identity provider: the UI asks for a login again', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, 'admin');
    await page.locator('#experiment-list').waitFor();
    // A typed or linked /auth/logout (Sec-Fetch-Site: none) ends both sessions and comes back to the UI.
    await page.goto(`${bff.url}/auth/logout`);
    await page.locator('#kc-form-login').waitFor();
    expect((await context.cookies(bff.url)).some((c) => c.name === 'bff_session')).toBe(false);
    await context.close();
  });
});
