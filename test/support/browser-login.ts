/** A cookie jar of one site: name → value. */
export type Jar = Map<string, string>;

export const cookieHeader = (jar: Jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

/** Keeps the cookies an answer sets (a cleared one is dropped); returns the Set-Cookie lines. */
export function keep(jar: Jar, res: Response): string[] {
  const set = res.headers.getSetCookie();
  for (const c of set) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i);
    const value = pair.slice(i + 1);
    if (value === '' || /max-age=0/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
  return set;
}

/**
 * The BFF's browser login driven without a browser, against the sandbox issuer or a real Keycloak alike:
 * GET /auth/login → the identity provider's login page (its cookies kept) → its form posted with the
 * user's password → the redirect to /auth/callback. Returns the BFF's cookies (the session cookie).
 */
export async function browserLogin(base: string, user: string, password: string, returnTo = '/mlflow/#/'): Promise<Jar> {
  const jar: Jar = new Map();
  const idp: Jar = new Map();
  let res = await fetch(`${base}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`/auth/login answered ${res.status}`);
  keep(jar, res);
  res = await fetch(res.headers.get('location')!, { redirect: 'manual' });
  keep(idp, res);
  const page = await res.text();
  const action = /action="([^"]+)"/.exec(page)?.[1].replace(/&amp;/g, '&');
  if (!action) throw new Error('no login form on the identity provider page');
  res = await fetch(action, {
    method: 'POST',
    headers: { cookie: cookieHeader(idp), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: user, password, credentialId: '' }),
    redirect: 'manual',
  });
  if (res.status !== 302) throw new Error(`the login form answered ${res.status}`);
  const callback = new URL(res.headers.get('location')!);
  res = await fetch(`${base}${callback.pathname}${callback.search}`, { headers: { cookie: cookieHeader(jar) }, redirect: 'manual' });
  if (res.status !== 302) throw new Error(`/auth/callback answered ${res.status}: ${await res.text()}`);
  keep(jar, res);
  return jar;
}
