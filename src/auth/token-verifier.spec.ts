import { createHmac } from 'node:crypto';
import { startOidcIssuer, type OidcIssuer } from '../../sandbox/oidc-issuer';
import { b64url, hs256, rs256Foreign, unsigned } from '../../test/support/jwt';
import type { AppConfig } from '../config/app-config';
import { AuthFailure } from './auth-failure';
import { MAX_TOKEN_LENGTH, TokenVerifier } from './token-verifier.service';

const AUD = 'platform-bff';
const HS_ISSUER = 'https://hs256.test/issuer';
const HS_SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const SKEW_S = 30;

let idp: OidcIssuer;
let verifier: TokenVerifier;

function config(): AppConfig {
  return {
    clientId: AUD,
    keycloak: { issuer: idp.issuer },
    auth: {
      audiences: [AUD],
      clockSkewS: SKEW_S,
      issuers: [
        { issuer: idp.issuer, kind: 'keycloak', jwksUri: idp.jwksUri, algorithms: ['RS256'] },
        { issuer: HS_ISSUER, kind: 'hs256', secret: HS_SECRET, algorithms: ['HS256'] },
      ],
    },
  } as unknown as AppConfig;
}

const nowS = () => Math.floor(Date.now() / 1000);
const kc = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => idp.issueToken({ claims: { aud: AUD, ...claims }, header });
const hs = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  hs256(header, { iss: HS_ISSUER, aud: AUD, sub: 'svc-1', exp: nowS() + 300, ...claims }, HS_SECRET);

async function refusal(p: Promise<unknown>): Promise<{ status: number; reason: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthFailure);
  return { status: (err as AuthFailure).status, reason: (err as AuthFailure).reason };
}
const INVALID = { status: 401, reason: 'token_invalid' };

beforeAll(async () => {
  idp = await startOidcIssuer();
});
afterAll(() => idp.close());
beforeEach(() => {
  verifier = new TokenVerifier(config());
});
afterEach(() => jest.restoreAllMocks());

describe('TokenVerifier: what it accepts', () => {
  it('a Keycloak access token: the principal of its claims', async () => {
    const p = await verifier.verify(await kc());
    expect(p).toMatchObject({ subject: '7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11', username: 'alice', issuer: idp.issuer, audiences: [AUD] });
    expect(p.roles).toContain('REGULAR');
    expect(verifier.realmKeys()?.jwksUri).toBe(idp.jwksUri);
  });

  it('an HS256 token with typ Bearer or none', async () => {
    expect((await verifier.verify(hs())).subject).toBe('svc-1');
    expect((await verifier.verify(hs({ typ: 'Bearer', sub: 'svc-2' }))).subject).toBe('svc-2');
  });

  it('a header without typ (typ is optional)', async () => {
    expect((await verifier.verify(hs({}, { typ: undefined }))).subject).toBe('svc-1');
  });

  it.each(['JWT', 'jwt', 'at+jwt', 'AT+JWT', 'application/at+jwt'])('header typ %s', async (typ) => {
    expect((await verifier.verify(hs({}, { typ }))).subject).toBe('svc-1');
  });

  it('a token exactly MAX_TOKEN_LENGTH long gets past the length check', async () => {
    // Payload padding moves the length in steps of 4/3: a header field fills the rest.
    const sized = (target: number): string => {
      for (let h = 0; h < 4; h++) {
        for (let n = Math.floor(((target - 400) * 3) / 4); n < target; n++) {
          const t = hs({ pad: 'x'.repeat(n) }, { h: 'y'.repeat(h) });
          if (t.length === target) return t;
          if (t.length > target) break;
        }
      }
      throw new Error(`no token of length ${target}`);
    };
    expect((await verifier.verify(sized(MAX_TOKEN_LENGTH))).subject).toBe('svc-1');
    expect(await refusal(verifier.verify(sized(MAX_TOKEN_LENGTH + 1)))).toEqual(INVALID);
  });
});

describe('TokenVerifier: what it refuses', () => {
  it('a token without exp (the JWT library checks exp only when present)', async () => {
    expect(await refusal(verifier.verify(await kc({ exp: undefined })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs({ exp: undefined })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs({ exp: String(nowS() + 300) })))).toEqual(INVALID);
  });

  it('a token with an empty, missing or non-string sub', async () => {
    expect(await refusal(verifier.verify(await kc({ sub: '' })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(await kc({ sub: undefined })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs({ sub: '' })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs({ sub: 7 })))).toEqual(INVALID);
  });

  it.each(['Refresh', 'ID', 'Offline', 'bearer'])('a Keycloak %s token', async (typ) => {
    expect(await refusal(verifier.verify(await kc({ typ })))).toEqual(INVALID);
  });

  it('a Keycloak token without typ', async () => {
    expect(await refusal(verifier.verify(await kc({ typ: undefined })))).toEqual(INVALID);
  });

  it.each(['Refresh', 'ID', 'Offline'])('a %s token from the HS256 issuer', async (typ) => {
    expect(await refusal(verifier.verify(hs({ typ })))).toEqual(INVALID);
  });

  it.each(['JWS', 'xjwt', 'jwtx', 'at+jwtx', 'application/jwt', ''])('header typ %j', async (typ) => {
    expect(await refusal(verifier.verify(hs({}, { typ })))).toEqual(INVALID);
  });

  it('a header typ that is not a string', async () => {
    expect(await refusal(verifier.verify(hs({}, { typ: 1 })))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs({}, { typ: ['JWT'] })))).toEqual(INVALID);
  });

  it.each(['jku', 'x5u', 'jwk', 'x5c'])('a header that names its own key (%s)', async (name) => {
    expect(await refusal(verifier.verify(hs({}, { [name]: 'https://attacker.test/k' })))).toEqual(INVALID);
  });

  it('a header with crit', async () => {
    expect(await refusal(verifier.verify(hs({}, { crit: ['exp'] })))).toEqual(INVALID);
  });

  it('a header without alg (or alg not a string)', async () => {
    const payload = { iss: HS_ISSUER, aud: AUD, sub: 's', exp: nowS() + 300 };
    expect(await refusal(verifier.verify(unsigned({ typ: 'JWT' }, payload, 'c2ln')))).toEqual(INVALID);
    expect(await refusal(verifier.verify(unsigned({ alg: 256 }, payload, 'c2ln')))).toEqual(INVALID);
  });

  it('no issuer, or an issuer not trusted: 401 issuer_not_trusted', async () => {
    const untrusted = { status: 401, reason: 'issuer_not_trusted' };
    expect(await refusal(verifier.verify(hs({ iss: undefined })))).toEqual(untrusted);
    expect(await refusal(verifier.verify(hs({ iss: 'https://other.test' })))).toEqual(untrusted);
    expect(await refusal(verifier.verify(hs({ iss: 42 })))).toEqual(untrusted);
  });

  it("an algorithm not allowed for the token's issuer (HS256 under the Keycloak issuer), before any key look-up", async () => {
    const fetches = idp.stats.jwksFetches;
    expect(await refusal(verifier.verify(hs({ iss: idp.issuer, typ: 'Bearer' }, { kid: idp.currentKid })))).toEqual(INVALID);
    expect(idp.stats.jwksFetches).toBe(fetches);
  });

  it('a Keycloak token without a kid, or with a malformed one', async () => {
    const t = await kc();
    const [, p, s] = t.split('.');
    const header = (kid: unknown) => b64url({ alg: 'RS256', typ: 'JWT', ...(kid === undefined ? {} : { kid }) });
    const fetches = idp.stats.jwksFetches;
    expect(await refusal(verifier.verify(`${header(undefined)}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header(5)}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header('../../etc/passwd')}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header('k'.repeat(129))}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header('')}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header('k/../x')}.${p}.${s}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${header('x\n')}.${p}.${s}`))).toEqual(INVALID);
    // None of these made the verifier ask the issuer for its keys.
    expect(idp.stats.jwksFetches).toBe(fetches);
    // A well-formed kid the issuer never published: unknown key.
    expect(await refusal(verifier.verify(`${header('k'.repeat(128))}.${p}.${s}`))).toEqual(INVALID);
  });

  it('a signature by a key the issuer never published', async () => {
    const payload = { iss: idp.issuer, aud: AUD, sub: 's', typ: 'Bearer', exp: nowS() + 300 };
    expect(await refusal(verifier.verify(rs256Foreign({ kid: idp.currentKid }, payload)))).toEqual(INVALID);
    expect(await refusal(verifier.verify(hs256({}, { iss: HS_ISSUER, aud: AUD, sub: 's', exp: nowS() + 300 }, 'another-secret-another-secret-x')))).toEqual(INVALID);
  });

  it('a Keycloak token while its JWKS cannot be fetched: 503 identity_provider_unavailable (not a bad token)', async () => {
    const token = await kc();
    idp.setAvailability({ down: true });
    try {
      expect(await refusal(verifier.verify(token))).toEqual({ status: 503, reason: 'identity_provider_unavailable' });
    } finally {
      idp.setAvailability({ down: false });
    }
    expect((await verifier.verify(token)).issuer).toBe(idp.issuer);
  });

  it('another audience: 401 audience_mismatch', async () => {
    expect(await refusal(verifier.verify(hs({ aud: 'account' })))).toEqual({ status: 401, reason: 'audience_mismatch' });
  });

  it('an expired token: 401 token_expired, within the clock skew still accepted', async () => {
    expect(await refusal(verifier.verify(hs({ exp: nowS() - SKEW_S - 5 })))).toEqual({ status: 401, reason: 'token_expired' });
    expect((await verifier.verify(hs({ exp: nowS() - SKEW_S + 5 }))).subject).toBe('svc-1');
  });

  it('a token not valid yet', async () => {
    expect(await refusal(verifier.verify(hs({ nbf: nowS() + SKEW_S + 60 })))).toEqual(INVALID);
  });

  it.each(['preferred_username', 'email', 'name', 'sub', 'azp'])('a %s claim with control characters', async (claim) => {
    expect(await refusal(verifier.verify(hs({ [claim]: 'a\nb' })))).toEqual(INVALID);
  });

  it('a token longer than MAX_TOKEN_LENGTH, or not in compact form', async () => {
    expect(await refusal(verifier.verify(hs({ pad: 'x'.repeat(MAX_TOKEN_LENGTH) })))).toEqual(INVALID);
    expect(await refusal(verifier.verify('a.b'))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`x${hs()}`.replace('.', '..')))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${hs()}.x`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(` ${hs()}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${hs()} `))).toEqual(INVALID);
    // A Keycloak token with a fourth segment is refused as it is, before the verifier asks for any key.
    const fetches = idp.stats.jwksFetches;
    expect(await refusal(verifier.verify(`${await kc()}.x`))).toEqual(INVALID);
    expect(idp.stats.jwksFetches).toBe(fetches);
  });

  it('another spelling of the same bytes in any segment (one token, one cache key)', async () => {
    // The last base64url character of a segment whose length is not a multiple of 4 carries unused
    // low bits: flipping one spells the same bytes differently, correctly signed.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const alt = (seg: string) => {
      expect(seg.length % 4).not.toBe(0);
      return seg.slice(0, -1) + ALPHABET[ALPHABET.indexOf(seg.at(-1)!) ^ 1];
    };
    const sign = (h: string, p: string) => `${h}.${p}.${createHmac('sha256', HS_SECRET).update(`${h}.${p}`).digest('base64url')}`;
    let h = b64url({ alg: 'HS256', typ: 'JWT' });
    for (let n = 0; h.length % 4 === 0; n++) h = b64url({ alg: 'HS256', typ: 'JWT', x: 'y'.repeat(n) });
    let p = '';
    for (let n = 0; p.length % 4 === 0; n++) p = b64url({ iss: HS_ISSUER, aud: AUD, sub: 'svc-1', exp: nowS() + 300, x: 'y'.repeat(n) });
    const good = sign(h, p);
    const sig = good.split('.')[2];
    expect(Buffer.from(alt(sig), 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
    for (const bad of [sign(alt(h), p), sign(h, alt(p)), `${h}.${p}.${alt(sig)}`]) {
      expect(await refusal(verifier.verify(bad))).toEqual(INVALID);
    }
    expect((await verifier.verify(good)).subject).toBe('svc-1');
    // RS256 checks the signature's bytes, not its spelling: only the canonical-spelling check refuses this one.
    const [kh, kp, ks] = (await kc()).split('.');
    expect(await refusal(verifier.verify(`${kh}.${kp}.${alt(ks)}`))).toEqual(INVALID);
    expect((await verifier.verify(`${kh}.${kp}.${ks}`)).issuer).toBe(idp.issuer);
  });

  it('a segment that is not JSON, or not a JSON object', async () => {
    const ok = hs().split('.');
    expect(await refusal(verifier.verify(`${b64url('not json')}.${ok[1]}.${ok[2]}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${ok[0]}.${b64url('[1]')}.${ok[2]}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${ok[0]}.${b64url('null')}.${ok[2]}`))).toEqual(INVALID);
    expect(await refusal(verifier.verify(`${ok[0]}.${b64url('"s"')}.${ok[2]}`))).toEqual(INVALID);
  });
});

describe('TokenVerifier: the verified-token cache', () => {
  it('a verified token is answered from the cache, fresh for under 60 s, then re-verified', async () => {
    const t0 = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(t0);
    const token = hs({ exp: Math.floor(t0 / 1000) + 600 });
    expect(verifier.cached(token)).toBeUndefined();
    expect(verifier.peek(token)).toBeUndefined();
    const p = await verifier.verify(token);
    expect(verifier.cachedTokens).toBe(1);
    clock.mockReturnValue(t0 + 59_999);
    expect(verifier.peek(token)).toBe(p);
    expect(verifier.cached(token)).toBe(p);
    clock.mockReturnValue(t0 + 60_000);
    expect(verifier.peek(token)).toBeUndefined();
    expect(verifier.cachedTokens).toBe(1);
    expect(verifier.cached(token)).toBeUndefined();
    expect(verifier.cachedTokens).toBe(0);
    // Verified afresh (a new entry, a new minute).
    expect((await verifier.verify(token)).subject).toBe('svc-1');
    clock.mockReturnValue(t0 + 60_000 + 59_999);
    expect(verifier.peek(token)).toBeDefined();
  });

  it('a cached token past its exp (and the skew) is 401 token_expired, and dropped', async () => {
    const t0 = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(t0);
    const exp = Math.floor(t0 / 1000) + 20;
    const token = hs({ exp });
    await verifier.verify(token);
    clock.mockReturnValue((exp + SKEW_S) * 1000);
    expect(verifier.peek(token)).toBeDefined();
    clock.mockReturnValue((exp + SKEW_S) * 1000 + 1);
    expect(verifier.peek(token)).toBeUndefined();
    expect(() => verifier.cached(token)).toThrow(expect.objectContaining({ status: 401, reason: 'token_expired' }));
    expect(verifier.cachedTokens).toBe(0);
    expect(verifier.cached(token)).toBeUndefined();
  });

  it('a cached token whose nbf is ahead is not fresh', async () => {
    const t0 = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(t0);
    const nbf = Math.floor(t0 / 1000) + SKEW_S; // valid now only thanks to the skew
    const token = hs({ nbf, exp: nbf + 600 });
    await verifier.verify(token);
    expect(verifier.peek(token)).toBeDefined();
    // Fresh from the very millisecond nbf is reached (within the skew), as jsonwebtoken decides it.
    clock.mockReturnValue((nbf - SKEW_S) * 1000);
    expect(verifier.peek(token)).toBeDefined();
    clock.mockReturnValue((nbf - SKEW_S) * 1000 - 1);
    expect(verifier.peek(token)).toBeUndefined();
  });

  it('drops the cached tokens of a key withdrawn from the JWKS', async () => {
    const oldKid = idp.currentKid;
    const old = await kc();
    await verifier.verify(old);
    // Another issuer's token that names the same kid is not that key's: it stays.
    const sameIssuerStays = hs({}, { kid: oldKid });
    await verifier.verify(sameIssuerStays);
    expect(verifier.peek(old)).toBeDefined();
    const newKid = await idp.rotateKeys();
    idp.withdrawKey(oldKid);
    try {
      // A token under the new key makes the store refetch the JWKS, which no longer lists the old key.
      await verifier.verify(await idp.issueToken({ claims: { aud: AUD }, kid: newKid }));
      expect(verifier.peek(old)).toBeUndefined();
      expect(verifier.cached(old)).toBeUndefined();
      expect(verifier.peek(sameIssuerStays)).toBeDefined();
      expect(await refusal(verifier.verify(old))).toEqual(INVALID);
    } finally {
      idp.withdrawKey('none');
    }
  });

  it('holds at most 20,000 tokens: the next one drops the oldest eighth', async () => {
    const t0 = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(t0);
    const exp = Math.floor(t0 / 1000) + 600;
    // The bound is what is checked here, not 20,000 signatures: the strategy's answer is the payload.
    const strategy = jest.spyOn(TokenVerifier.prototype as unknown as { runStrategy(s: unknown, t: string): Promise<unknown> }, 'runStrategy');
    strategy.mockImplementation(async (_s, t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString('utf8')));
    const tokens = Array.from({ length: 20_001 }, (_, i) => unsigned({ alg: 'HS256' }, { iss: HS_ISSUER, aud: AUD, sub: `s${i}`, exp }, 'c2ln'));
    for (const t of tokens.slice(0, 20_000)) await verifier.verify(t);
    expect(verifier.cachedTokens).toBe(20_000);
    await verifier.verify(tokens[20_000]);
    expect(verifier.cachedTokens).toBe(20_000 - 2_500 + 1);
    expect([verifier.peek(tokens[2_499]), verifier.peek(tokens[2_500]), verifier.peek(tokens[20_000])].map(Boolean)).toEqual([false, true, true]);
  });

  it('stale entries are dropped when a new token is verified', async () => {
    const t0 = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(t0);
    await verifier.verify(hs({ sub: 'a', exp: Math.floor(t0 / 1000) + 600 }));
    clock.mockReturnValue(t0 + 30_000);
    await verifier.verify(hs({ sub: 'b', exp: Math.floor(t0 / 1000) + 600 }));
    expect(verifier.cachedTokens).toBe(2);
    clock.mockReturnValue(t0 + 60_000);
    await verifier.verify(hs({ sub: 'c', exp: Math.floor(t0 / 1000) + 600 }));
    expect(verifier.cachedTokens).toBe(2);
  });
});
