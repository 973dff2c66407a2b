import { hashBreakGlassPassword, parseScryptHash, SCRYPT_DEFAULTS, verifyScryptHash } from './password-hash';

describe('break-glass password hashes', () => {
  it('produces scrypt$N$r$p$salt$key with the defaults, and verifies it', async () => {
    const hash = await hashBreakGlassPassword('correct horse battery staple');
    expect(hash).toMatch(new RegExp(`^scrypt\\$${SCRYPT_DEFAULTS.N}\\$8\\$1\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$`));
    // It sits in the BREAK_GLASS_USERS comma list as is (the env schema's pattern).
    expect(`ops:${hash}`).toMatch(/^[^:,\s]+:\$?scrypt\$[^,\s]+$/);
    const parsed = parseScryptHash(hash)!;
    expect(await verifyScryptHash('correct horse battery staple', parsed)).toBe(true);
    expect(await verifyScryptHash('correct horse battery stapler', parsed)).toBe(false);
  });

  it('salts: two hashes of one password differ', async () => {
    const [a, b] = await Promise.all([hashBreakGlassPassword('pw-123456789', { N: 1024 }), hashBreakGlassPassword('pw-123456789', { N: 1024 })]);
    expect(a).not.toBe(b);
  });

  it('reads the cost parameters from the hash, and accepts a leading $', async () => {
    const hash = await hashBreakGlassPassword('pw-123456789', { N: 2048, r: 4, p: 2 });
    const parsed = parseScryptHash(`$${hash}`)!;
    expect({ N: parsed.N, r: parsed.r, p: parsed.p }).toEqual({ N: 2048, r: 4, p: 2 });
    expect(await verifyScryptHash('pw-123456789', parsed)).toBe(true);
  });

  it.each([
    ['plain text', 'hunter2'],
    ['another scheme', 'bcrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['missing parts', 'scrypt$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['N not a power of two', 'scrypt$10000$8$1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['N too small', 'scrypt$512$8$1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['too much memory', 'scrypt$1048576$8$4$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['salt too short', 'scrypt$16384$8$1$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['not base64url', 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
    ['leading zero', 'scrypt$016384$8$1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'],
  ])('refuses %s', (_what, text) => {
    expect(parseScryptHash(text)).toBeUndefined();
  });
});
