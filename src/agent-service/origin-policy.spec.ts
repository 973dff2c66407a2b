import type { AppConfig } from '../config/app-config';
import { normaliseOrigin, OriginPolicy } from './origin-policy';

const policy = (o: { allowed?: string[]; cors?: string[]; publicUrl?: string; trustProxy?: boolean } = {}) =>
  new OriginPolicy({
    agents: { wsAllowedOrigins: o.allowed ?? [], tokenQuota: 1 },
    corsOrigins: o.cors ?? [],
    publicUrl: o.publicUrl,
    trustProxy: o.trustProxy ?? false,
  } as Pick<AppConfig, 'agents' | 'corsOrigins' | 'publicUrl' | 'trustProxy'>);

describe('OriginPolicy', () => {
  it('lets non-browser clients (no Origin) through', () => {
    expect(policy().check({ host: 'bff:3000' })).toBeUndefined();
    expect(policy({ allowed: ['https://app.example.com'] }).check({})).toBeUndefined();
  });

  it('by default allows the same origin (Host, or PUBLIC_URL) and CORS_ORIGINS only', () => {
    const p = policy({ cors: ['https://app.example.com'] });
    expect(p.check({ host: 'bff.example.com', origin: 'https://bff.example.com' })).toBeUndefined();
    expect(p.check({ host: 'bff.example.com:8443', origin: 'https://BFF.example.com:8443' })).toBeUndefined();
    expect(p.check({ host: 'bff.example.com', origin: 'https://app.example.com' })).toBeUndefined();
    expect(p.check({ host: 'bff.example.com', origin: 'https://evil.example' })).toBe('cross-origin WebSocket requests are not allowed (set WS_ALLOWED_ORIGINS)');
    expect(p.check({ host: 'bff.example.com', origin: 'null' })).toBe('the Origin header is malformed');

    const pub = policy({ publicUrl: 'https://platform.example.com/' });
    expect(pub.check({ host: '10.0.0.7:3000', origin: 'https://platform.example.com' })).toBeUndefined();
    expect(pub.check({ host: '10.0.0.7:3000', origin: 'http://10.0.0.7:3000' })).toBe('cross-origin WebSocket requests are not allowed (set WS_ALLOWED_ORIGINS)');
  });

  it('reads X-Forwarded-Host only with TRUST_PROXY', () => {
    const headers = { host: 'bff:3000', 'x-forwarded-host': 'platform.example.com', 'x-forwarded-proto': 'https', origin: 'https://platform.example.com' };
    expect(policy().check(headers)).toBe('cross-origin WebSocket requests are not allowed (set WS_ALLOWED_ORIGINS)');
    expect(policy({ trustProxy: true }).check(headers)).toBeUndefined();
  });

  it('with WS_ALLOWED_ORIGINS, allows exactly the list (or everything with *)', () => {
    const p = policy({ allowed: ['https://app.example.com', 'http://localhost:5173'], cors: ['https://other.example'] });
    expect(p.check({ host: 'bff', origin: 'https://app.example.com:443' })).toBeUndefined();
    expect(p.check({ host: 'localhost:5173', origin: 'http://localhost:5173' })).toBeUndefined();
    expect(p.check({ host: 'bff', origin: 'http://bff' })).toBe('the Origin is not in WS_ALLOWED_ORIGINS');
    expect(p.check({ host: 'bff', origin: 'https://other.example' })).toBe('the Origin is not in WS_ALLOWED_ORIGINS');
    expect(p.check({ host: 'bff', origin: 'https://app.example.com.evil.example' })).toBe('the Origin is not in WS_ALLOWED_ORIGINS');
    expect(policy({ allowed: ['*'] }).check({ host: 'bff', origin: 'https://anything.example' })).toBeUndefined();
  });

  it('normalises origins', () => {
    expect(normaliseOrigin('HTTPS://App.Example.com:443/')).toBe('https://app.example.com');
    expect(normaliseOrigin('http://a:8080')).toBe('http://a:8080');
    expect(normaliseOrigin('file://x')).toBeUndefined();
    expect(normaliseOrigin('not a url')).toBeUndefined();
  });
});
