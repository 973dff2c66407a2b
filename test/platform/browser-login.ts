import { launchChromium } from '../support/browser';

/** Cookies by name, one jar per server (the BFF's, the identity provider's). */
export type Jar = Map<string, string>;

/** An MLflow call that a browser session opens (the BFF's browser login is for the MLflow UI). */
export const SESSION_PATH = '/mlflow/ajax-api/2.0/mlflow/experiments/search?max_results=10';

export function keep(jar: Jar, res: Response): void {
  for (const c of res.headers.getSetCookie()) {
    const pair = c.split(';')[0];
    const i = pair.indexOf('=');
    const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1)];
    if (value === '' || /;\s*max-age=0/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
}

export const cookieHeader = (jar: Jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

/** The action of the identity provider's login form (Keycloak's theme and the sandbox issuer both name it kc-form-login). */
function loginFormAction(page: string): string {
  const form = /<form\b[^>]*\bid="kc-form-login"[^>]*>/.exec(page)?.[0];
  const action = form && /\baction="([^"]+)"/.exec(form)?.[1];
  if (!action) throw new Error(`no login form in the identity provider's page: ${page.slice(0, 300)}`);
  return action.replace(/&amp;/g, '&');
}

/**
 * The browser login through the BFF's /auth/login, by an HTTP client that fills the identity provider's
 * login form and follows the redirects as a browser does. Returns the BFF's cookies (its session).
 */
export async function formLogin(bffUrl: string, user: string, password: string, returnTo = SESSION_PATH): Promise<Jar> {
  const bff: Jar = new Map();
  const idp: Jar = new Map();
  let res = await fetch(`${bffUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`/auth/login answered ${res.status}`);
  keep(bff, res);
  res = await fetch(res.headers.get('location')!, { redirect: 'manual' });
  keep(idp, res);
  const action = loginFormAction(await res.text());
  res = await fetch(action, { method: 'POST', headers: { cookie: cookieHeader(idp) }, body: new URLSearchParams({ username: user, password }), redirect: 'manual' });
  if (res.status !== 302) throw new Error(`the login form answered ${res.status}`);
  const callback = new URL(res.headers.get('location')!);
  if (callback.origin !== new URL(bffUrl).origin) throw new Error(`the identity provider redirected to ${callback.origin}, not to the BFF`);
  res = await fetch(callback, { headers: { cookie: cookieHeader(bff) }, redirect: 'manual' });
  if (res.status !== 302) throw new Error(`/auth/callback answered ${res.status}: ${await res.text()}`);
  keep(bff, res);
  return bff;
}

/** What a Chromium login through the BFF showed: the navigations it made and where it landed. */
export interface ChromiumLogin {
  navigations: string[];
  landed: string;
  /** GETs with the browser's cookies, after the login. */
  get(url: string): Promise<{ status: number; body: string }>;
}

/**
 * A real browser (Debian's Chromium through playwright-core) opens the BFF's /auth/login, signs in on the
 * identity provider's page and comes back. `use` runs with the logged-in browser; the browser is closed after.
 */
export async function chromiumLogin(bffUrl: string, user: string, password: string, use: (login: ChromiumLogin) => Promise<void>): Promise<void> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const navigations: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) navigations.push(r.url());
    });
    await page.goto(`${bffUrl}/auth/login?returnTo=${encodeURIComponent(SESSION_PATH)}`);
    await page.fill('#username', user);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${bffUrl}${SESSION_PATH}`), page.click('#kc-login')]);
    await use({
      navigations,
      landed: page.url(),
      get: async (url) => {
        const res = await context.request.get(url, { maxRedirects: 0 });
        return { status: res.status(), body: await res.text() };
      },
    });
  } finally {
    await browser.close();
  }
}
