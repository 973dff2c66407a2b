/**
 * The log-hygiene scanner (issue 7 item 4): finds credentials in captured log text. Pure functions;
 * test/support/log-capture.ts collects the text and the known credentials of a test file, and
 * test/support/log-hygiene.setup.ts fails the file when anything is found.
 */

/** What a test file knows to be secret: labelled values (client secrets, keys, passwords) and the tokens it used. */
export interface KnownCredentials {
  secrets: Map<string, string>;
  tokens: Iterable<string>;
}

export interface Leak {
  /** Where the text came from (an in-process app, a spawned process's stdout…). */
  source: string;
  /** What leaked (a label, never the value). */
  what: string;
  /** The surrounding text, with the leaked value masked. */
  context: string;
}

/** Shorter values are not checked by content (they would match ordinary words); the generic patterns still apply. */
export const MIN_SECRET_LENGTH = 8;
export const MIN_SEGMENT_LENGTH = 16;

/** Three base64url segments, the header a JSON object (eyJ): any JWT, valid or not, whoever issued it. */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]{2,}={0,2}\.[A-Za-z0-9_-]{2,}={0,2}\.[A-Za-z0-9_-]*/g;
/** Query parameters carrying credentials, whose values must read [REDACTED]. */
const CREDENTIAL_QUERY = /[?&](access[-_]token|ticket|token|client_secret|code|password)=([^&#\s"'\\<>]*)/gi;
const REDACTED_VALUE = /^(\[REDACTED\]|%5BREDACTED%5D)/i;
/** A Basic credential: base64 of user:password. */
const BASIC = /\bBasic\s+([A-Za-z0-9+/]{6,}={0,2})/g;
/** A bearer value that is not redacted (opaque tokens included). */
const BEARER = /\bBearer\s+(?!\[REDACTED\])([A-Za-z0-9._~+/-]{16,}=*)/g;

function mask(value: string): string {
  return `‹${value.slice(0, 4)}…›`;
}

function excerpt(text: string, index: number, length: number, replacement: string): string {
  const from = Math.max(0, index - 60);
  const to = Math.min(text.length, index + length + 60);
  return (text.slice(from, index) + replacement + text.slice(index + length, to)).replace(/\s+/g, ' ');
}

/** The ways one secret may be written: as is, URL-encoded, and for user:password also base64 (a Basic header). */
function variants(value: string): string[] {
  const out = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
  if (/^[^:\s]+:.+$/.test(value)) out.add(Buffer.from(value).toString('base64'));
  return [...out];
}

/** The credential-shaped strings to look for: every secret (≥ 8 characters) and every token segment (≥ 16). */
export function needles(known: KnownCredentials): Map<string, string> {
  const out = new Map<string, string>();
  for (const [what, value] of known.secrets) {
    if (!value || value.length < MIN_SECRET_LENGTH) continue;
    for (const v of variants(value)) if (!out.has(v)) out.set(v, what);
    const colon = value.indexOf(':');
    const password = colon > 0 ? value.slice(colon + 1) : '';
    if (password.length >= MIN_SECRET_LENGTH && !/^\/\//.test(password) && !out.has(password)) out.set(password, `${what} (password)`);
  }
  let i = 0;
  for (const token of new Set(known.tokens)) {
    i++;
    const segments = token.split('.');
    segments.forEach((segment, s) => {
      if (segment.length >= MIN_SEGMENT_LENGTH && !out.has(segment)) out.set(segment, segments.length > 1 ? `segment ${s} of token #${i}` : `token #${i}`);
    });
  }
  return out;
}

/** Every credential found in `text`: JWT-shaped strings, known secrets and token segments, unredacted credential query values, Basic and Bearer values. */
export function scanLog(source: string, text: string, known: KnownCredentials | Map<string, string>): Leak[] {
  const leaks: Leak[] = [];
  const add = (what: string, index: number, length: number) =>
    leaks.push({ source, what, context: excerpt(text, index, length, mask(text.slice(index, index + length))) });

  for (const m of text.matchAll(JWT_SHAPED)) add('a JWT-shaped string', m.index, m[0].length);
  for (const m of text.matchAll(CREDENTIAL_QUERY)) {
    if (m[2] && !REDACTED_VALUE.test(m[2])) add(`an unredacted ${m[1]}= query value`, m.index + m[0].length - m[2].length, m[2].length);
  }
  for (const m of text.matchAll(BASIC)) {
    const decoded = Buffer.from(m[1], 'base64').toString('latin1');
    if (/^[\x21-\x7e]+:[\x20-\x7e]+$/.test(decoded)) add('a Basic credential', m.index, m[0].length);
  }
  for (const m of text.matchAll(BEARER)) add('a Bearer value', m.index, m[0].length);

  const lookFor = known instanceof Map ? known : needles(known);
  for (const [value, what] of lookFor) {
    let at = text.indexOf(value);
    if (at >= 0) add(what, at, value.length);
    // One finding per value is enough; count the rest.
    let more = 0;
    while (at >= 0 && more < 1000) {
      at = text.indexOf(value, at + value.length);
      if (at >= 0) more++;
    }
    if (more > 0) leaks[leaks.length - 1].what += ` (and ${more} more time${more > 1 ? 's' : ''})`;
  }
  return leaks;
}

/**
 * The sandbox-mode banner prints the demo tokens on purpose (src/main.ts). It is cut out of a
 * spawned BFF's stdout before the scan; its tokens become known tokens, so no other line may carry a part of one.
 */
export function stripSandboxBanner(stdout: string): { text: string; tokens: string[] } {
  const m = /^ {2}Platform BFF — SANDBOX MODE[^\n]*\n(?:[^\n]*\n)*? {2}Try: [^\n]*(\n|$)/m.exec(stdout);
  if (!m) return { text: stdout, tokens: [] };
  const tokens = [...m[0].matchAll(/^ {6}(\S+)$/gm)].map((t) => t[1]);
  return { text: stdout.slice(0, m.index) + stdout.slice(m.index + m[0].length), tokens };
}

/** The error message of a file with leaks: what leaked where, with the values masked. */
export function formatLeaks(leaks: Leak[], max = 20): string {
  const lines = leaks.slice(0, max).map((l) => `  - ${l.what} in ${l.source}: …${l.context}…`);
  if (leaks.length > max) lines.push(`  … and ${leaks.length - max} more`);
  return `log hygiene: ${leaks.length} credential${leaks.length > 1 ? 's' : ''} in the captured logs of this file\n${lines.join('\n')}`;
}
