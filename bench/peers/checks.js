'use strict';
// Proof that an app really verifies: tokens it must refuse (401) and one it must accept (200).
// Used by smoke.js and, before any figure is taken, by bench/peers.bench.ts.
const { generateKeyPairSync, createSign } = require('node:crypto');

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

/** Signs header.payload with a fresh RSA key the issuer never published. */
function signWithStrangerKey(header, payload) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
}

/**
 * The cases, from the sandbox issuer (issueToken of sandbox/oidc-issuer.ts).
 * Returns [{ name, token, expect: 200 | 401 }].
 */
async function cases(issuer) {
  const valid = await issuer.issueToken({ user: 'alice', expiresInS: 600 });
  const [h, p, s] = valid.split('.');
  const header = decode(h);
  const payload = decode(p);
  return [
    { name: 'valid token', token: valid, expect: 200 },
    { name: 'no token', token: undefined, expect: 401 },
    { name: 'forged: same kid, signed by a stranger key', token: signWithStrangerKey(header, payload), expect: 401 },
    { name: 'tampered payload (username), original signature', token: `${h}.${b64url({ ...payload, preferred_username: 'admin' })}.${s}`, expect: 401 },
    { name: 'alg none', token: `${b64url({ alg: 'none', typ: 'JWT' })}.${p}.`, expect: 401 },
    { name: 'signature stripped', token: `${h}.${p}.`, expect: 401 },
    {
      name: 'wrong issuer (signed by the realm key)',
      token: await issuer.issueToken({ user: 'alice', claims: { iss: 'http://127.0.0.1:1/realms/evil' } }),
      expect: 401,
    },
    { name: 'wrong audience (signed by the realm key)', token: await issuer.issueToken({ user: 'alice', claims: { aud: 'someone-else' } }), expect: 401 },
    { name: 'expired (signed by the realm key)', token: await issuer.issueToken({ user: 'alice', expiresInS: -120 }), expect: 401 },
  ];
}

/** Runs the cases against url; returns the failures (empty when the app verifies). */
async function verifyApp(url, theCases, check = () => undefined) {
  const failures = [];
  for (const c of theCases) {
    const res = await fetch(url, { headers: c.token ? { authorization: `Bearer ${c.token}` } : {} });
    const body = await res.text();
    if (res.status !== c.expect) failures.push(`${c.name}: HTTP ${res.status}, expected ${c.expect}`);
    else if (c.expect === 200) {
      const problem = check(res, body);
      if (problem) failures.push(`${c.name}: ${problem}`);
    }
  }
  return failures;
}

module.exports = { cases, verifyApp };
