import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Break-glass password hashes (BREAK_GLASS_USERS = `user:hash,user2:hash2`), node:crypto scrypt:
 *
 *     scrypt$<N>$<r>$<p>$<salt>$<key>
 *
 * N, r, p: the scrypt cost parameters in decimal (N a power of two); salt and key: base64url
 * without padding (no `,` `:` or whitespace, so a hash sits in the comma list as is). A leading
 * `$` (`$scrypt$…`, PHC style) is accepted too. Produced by `scripts/hash-break-glass.ts`.
 * Defaults N=32768, r=8, p=1 (32 MiB, ~150 ms per check), 16-byte salt, 32-byte key.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  saltBytes: number;
  keyBytes: number;
}

export const SCRYPT_DEFAULTS: Readonly<ScryptParams> = Object.freeze({ N: 32768, r: 8, p: 1, saltBytes: 16, keyBytes: 32 });

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const MAX_MEMORY = 256 * 1024 * 1024;

function scryptAsync(password: string, salt: Buffer, keyLength: number, h: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyLength, { N: h.N, r: h.r, p: h.p, maxmem: 2 * 128 * h.N * h.r * h.p + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Parses a hash; undefined when it is not one (or asks for absurd cost parameters). */
export function parseScryptHash(text: string): ScryptHash | undefined {
  const parts = (text.startsWith('$') ? text.slice(1) : text).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map((x) => (/^[1-9][0-9]{0,9}$/.test(x) ? Number(x) : NaN));
  const [salt, key] = parts.slice(4);
  if (!Number.isInteger(N) || N < 1024 || (N & (N - 1)) !== 0) return undefined;
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return undefined;
  if (128 * N * r * p > MAX_MEMORY) return undefined;
  if (!B64URL.test(salt) || !B64URL.test(key)) return undefined;
  const saltBytes = Buffer.from(salt, 'base64url');
  const keyBytes = Buffer.from(key, 'base64url');
  if (saltBytes.length < 16 || keyBytes.length < 16 || keyBytes.length > 128) return undefined;
  return { N, r, p, salt: saltBytes, key: keyBytes };
}

/** A new hash of `password` with the default parameters and a random salt. */
export async function hashBreakGlassPassword(password: string, params: Partial<ScryptParams> = {}): Promise<string> {
  const o = { ...SCRYPT_DEFAULTS, ...params };
  const salt = randomBytes(o.saltBytes);
  const key = await scryptAsync(password, salt, o.keyBytes, o);
  return `scrypt$${o.N}$${o.r}$${o.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time comparison of scrypt(password) with the stored key. */
export async function verifyScryptHash(password: string, hash: ScryptHash): Promise<boolean> {
  const key = await scryptAsync(password, hash.salt, hash.key.length, hash);
  return timingSafeEqual(key, hash.key);
}
