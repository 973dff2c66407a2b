import { createHmac, generateKeyPairSync, createSign } from 'node:crypto';

/** Hand-made JWTs for attack tests: any header, any payload, any signature. */
export const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function decodePart(token: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

export function hs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer): string {
  const input = `${b64url({ alg: 'HS256', typ: 'JWT', ...header })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** RS256 with a key the issuer never published. */
export function rs256Foreign(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', ...header })}.${b64url(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(foreignKey.privateKey).toString('base64url')}`;
}
