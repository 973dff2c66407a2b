import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config';

type CookieConfig = Pick<AppConfig, 'session'>;

/** How long a started login may take: its pending state and its login-state cookie live this long. */
export const LOGIN_TTL_MS = 10 * 60_000;

/** The login-state cookie: binds a started login to the browser that started it (login CSRF). */
export function loginCookieName(config: CookieConfig): string {
  const name = config.session.cookieName;
  return /^__(Host|Secure)-/.test(name) ? name.replace(/^(__(?:Host|Secure)-)/, '$1login-') : `${name}_login`;
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const value = req.cookies?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** HttpOnly, SameSite=Lax (sent on top-level navigations, e.g. back from the identity provider), Path=/, Secure with an https PUBLIC_URL. */
const attributes = (config: CookieConfig) => ({ httpOnly: true, sameSite: 'lax' as const, path: '/', secure: config.session.secure });

/** The session cookie: a browser-session cookie (no Max-Age); the server decides how long the session lives. */
export function setSessionCookie(reply: FastifyReply, config: CookieConfig, sessionId: string): void {
  reply.setCookie(config.session.cookieName, sessionId, attributes(config));
}

export function clearSessionCookie(reply: FastifyReply, config: CookieConfig): void {
  reply.clearCookie(config.session.cookieName, attributes(config));
}

export function setLoginCookie(reply: FastifyReply, config: CookieConfig, state: string): void {
  reply.setCookie(loginCookieName(config), state, { ...attributes(config), maxAge: Math.floor(LOGIN_TTL_MS / 1000) });
}

export function clearLoginCookie(reply: FastifyReply, config: CookieConfig): void {
  reply.clearCookie(loginCookieName(config), attributes(config));
}
