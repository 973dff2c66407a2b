import type { FastifyRequest } from 'fastify';
import { problem } from './problem';
import type { AppConfig } from '../config/app-config';

const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * The BFF's own base URL as the browser sees it: PUBLIC_URL when configured, otherwise the
 * request's scheme and host (Fastify reads X-Forwarded-Proto / -Host only with TRUST_PROXY).
 */
export function publicBase(req: FastifyRequest, config: Pick<AppConfig, 'publicUrl'>): string {
  if (config.publicUrl) return config.publicUrl;
  const host = req.host;
  if (typeof host !== 'string' || !HOST.test(host)) throw problem.badRequest('the Host header is missing or not a host name');
  return `${req.protocol === 'https' ? 'https' : 'http'}://${host.toLowerCase()}`;
}

const originOf = (url: string): string | undefined => {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
};

/**
 * CSRF protection of cookie-authenticated requests that change state: the request must come from
 * the BFF's own origin. Every signal the browser sent must agree — Fetch Metadata (`Sec-Fetch-Site`
 * same-origin, or `none` for a user-typed navigation), `Origin`, else `Referer` — and with
 * `requireEvidence` at least one of them must be present (browsers send `Origin` on every
 * cross-origin and every same-origin non-GET fetch or form post). A double-submit token would need
 * MLflow's own UI to send a header it knows nothing about; an origin check works with any UI.
 * Throws a 403 problem when the request is (or may be) cross-site.
 */
export function assertSameOrigin(req: FastifyRequest, config: Pick<AppConfig, 'publicUrl'>, opts: { requireEvidence: boolean }): void {
  const expected = originOf(publicBase(req, config));
  let evidence = false;
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined) {
    if (site !== 'same-origin' && site !== 'none') throw refused(`Sec-Fetch-Site is ${site}`);
    evidence = true;
  }
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    if (origin === 'null' || originOf(origin) !== expected) throw refused('the Origin is not this service');
    evidence = true;
  } else {
    const referer = header(req, 'referer');
    if (referer !== undefined) {
      if (originOf(referer) !== expected) throw refused('the Referer is not this service');
      evidence = true;
    }
  }
  if (opts.requireEvidence && !evidence) throw refused('no Origin, Referer or Sec-Fetch-Site header');
}

const refused = (why: string) =>
  problem.forbidden('insufficient_role', `cross-site request refused on a session cookie (${why}); send a bearer token or use the UI`);
