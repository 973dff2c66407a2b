/** Anything shaped like a JWT (three base64url segments, JSON header). */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
/** Query parameters whose values are credentials. */
const SECRET_QUERY = /([?&](?:access-token|access_token|ticket|token|code|state|client_secret)=)[^&#]*/gi;

export const REDACTED = '[REDACTED]';

/** A URL with credential query values removed. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, `$1${REDACTED}`);
}

/** Any string with JWT-shaped substrings removed. */
export function redactTokens(text: string): string {
  return text.replace(JWT_SHAPED, REDACTED);
}

/** Deep copy of a log object with every JWT-shaped string and credential query value removed. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrl(redactTokens(value));
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { type: value.name, message: redactTokens(value.message), stack: value.stack ? redactTokens(value.stack) : undefined };
  }
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out;
}
