import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load-config';

const BASE = { KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's3cr3t-value' };

function problems(env: Record<string, string>, opts = {}): ConfigError {
  try {
    loadConfig(env, opts);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('builds the typed config with the documented defaults', () => {
    const c = loadConfig(BASE);
    expect(c.port).toBe(3000);
    expect(c.keycloak.issuer).toBe('https://kc.example.com/realms/platform');
    expect(c.auth.audiences).toEqual(['platform-bff']);
    expect(c.auth.clockSkewS).toBe(30);
    expect(c.tokenExchange).toEqual({ cacheTtlS: 180, timeoutMs: 3000 });
    expect(c.trino).toMatchObject({ userClaim: 'preferred_username', auth: 'none' });
    expect(c.trinoGateway.audience).toBe('trino-gw');
    expect(c.mlAgent).toMatchObject({ audience: 'ml-agent', tokenMode: 'exchange' });
  });

  it('lists every error at once, by key and rule, never echoing a value', () => {
    const err = problems({
      ...BASE,
      PORT: 'not-a-port',
      AUTH_JWT_SECRET: 'too-short-secret-value',
      TRINO_AUTH: 'kerberos',
      VALKEY_URL: 'http://valkey:6379',
      AUTH_CLOCK_SKEW_S: '9999',
      AUTH_EXTRA_ISSUERS: '{not json',
    });
    const keys = err.problems.map((p) => p.key);
    expect(keys).toEqual(
      expect.arrayContaining(['PORT', 'AUTH_JWT_SECRET', 'AUTH_JWT_SECRET_ISSUER', 'TRINO_AUTH', 'VALKEY_URL', 'AUTH_CLOCK_SKEW_S', 'AUTH_EXTRA_ISSUERS']),
    );
    for (const secret of ['too-short-secret-value', 's3cr3t-value', 'kerberos', 'valkey:6379', 'not-a-port']) {
      expect(err.message).not.toContain(secret);
    }
  });

  it('TRINO_CA_FILE: a readable PEM file of certificates, for an https TRINO_URL; read at boot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trino-ca-'));
    const pem = join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n');
    expect(loadConfig({ ...BASE, TRINO_URL: 'https://trino:8443', TRINO_CA_FILE: pem }).trino.ca).toContain('BEGIN CERTIFICATE');
    const rules = (env: Record<string, string>) =>
      problems({ ...BASE, ...env })
        .problems.filter((p) => p.key === 'TRINO_CA_FILE')
        .map((p) => p.rule);
    expect(rules({ TRINO_URL: 'https://trino:8443', TRINO_CA_FILE: join(dir, 'missing.pem') })).toEqual(['must name a readable file']);
    expect(rules({ TRINO_URL: 'https://trino:8443', TRINO_CA_FILE: join(dir, 'key.pem') })).toEqual([expect.stringMatching(/PEM file of CA certificates/)]);
    expect(rules({ TRINO_URL: 'http://trino:8080', TRINO_CA_FILE: pem })).toEqual(['is only used with an https TRINO_URL']);
  });

  it('TRINO_AUTH=exchange|basic needs an https TRINO_URL (Trino authenticates only over HTTPS), listed with the other errors', () => {
    const err = problems({ ...BASE, TRINO_URL: 'http://trino:8080', TRINO_AUTH: 'basic', TRINO_BASIC_AUTH: 'svc-bff:pw-value', PORT: 'x' });
    expect(err.problems.map((p) => p.key).sort()).toEqual(['PORT', 'TRINO_URL']);
    expect(err.problems.find((p) => p.key === 'TRINO_URL')!.rule).toMatch(/^must be an https URL with TRINO_AUTH=basic .*TRINO_AUTH over http must be none$/);
    expect(err.message).not.toContain('pw-value');
    expect(problems({ ...BASE, TRINO_URL: 'HTTP://trino:8080', TRINO_AUTH: 'exchange' }).problems.map((p) => p.key)).toEqual(['TRINO_URL']);
    expect(loadConfig({ ...BASE, TRINO_URL: 'https://trino:8443', TRINO_AUTH: 'exchange' }).trino.auth).toBe('exchange');
    expect(loadConfig({ ...BASE, TRINO_URL: 'http://trino:8080', TRINO_AUTH: 'none' }).trino.auth).toBe('none');
    expect(loadConfig({ ...BASE, TRINO_URL: 'http://trino:8080' }).trino.auth).toBe('none');
  });

  it('Valkey topology: one server, Sentinel or a cluster, chosen by which keys are set; every mistake listed at once', () => {
    expect(loadConfig({ ...BASE, VALKEY_URL: 'redis://:pw-value@valkey:6379' }).valkey).toEqual({ mode: 'single', url: 'redis://:pw-value@valkey:6379' });
    expect(loadConfig({ ...BASE, VALKEY_SENTINELS: 's0:26379, s1:26379,[::1]:26380', VALKEY_SENTINEL_MASTER: 'bff-primary' }).valkey).toEqual({
      mode: 'sentinel',
      master: 'bff-primary',
      sentinels: [
        { host: 's0', port: 26379 },
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
    });
    expect(loadConfig({ ...BASE, VALKEY_CLUSTER_NODES: 'v0:6379,v1:6379' }).valkey).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'v0', port: 6379 },
        { host: 'v1', port: 6379 },
      ],
    });
    expect(loadConfig(BASE).valkey).toBeUndefined();

    const err = problems({
      ...BASE,
      VALKEY_URL: 'redis://:pw-value@valkey:6379',
      VALKEY_SENTINELS: 's0:26379,s1',
      VALKEY_CLUSTER_NODES: 'v0:70000',
      PORT: 'x',
    });
    expect(err.problems).toEqual(
      expect.arrayContaining([
        {
          key: 'VALKEY_URL, VALKEY_SENTINELS, VALKEY_CLUSTER_NODES',
          rule: expect.stringMatching(/^set at most one of VALKEY_URL, VALKEY_SENTINELS, VALKEY_CLUSTER_NODES/),
        },
        { key: 'VALKEY_SENTINEL_MASTER', rule: expect.stringMatching(/^is required with VALKEY_SENTINELS/) },
        { key: 'VALKEY_SENTINELS', rule: 'must be a comma-separated list of host:port (port 1-65535)' },
        { key: 'VALKEY_CLUSTER_NODES', rule: 'must be a comma-separated list of host:port (port 1-65535)' },
      ]),
    );
    expect(err.problems.map((p) => p.key)).toContain('PORT');
    expect(err.message).not.toContain('pw-value');
    expect(problems({ ...BASE, VALKEY_SENTINEL_MASTER: 'bff-primary' }).problems).toEqual([
      { key: 'VALKEY_SENTINEL_MASTER', rule: 'is only used with VALKEY_SENTINELS' },
    ]);
    expect(problems({ ...BASE, VALKEY_SENTINELS: 's0:26379', VALKEY_SENTINEL_MASTER: 'no spaces' }).problems.map((p) => p.key)).toEqual(['VALKEY_SENTINEL_MASTER']);
    // Production with shared state: the session secret is required, whichever the topology.
    expect(problems({ ...BASE, NODE_ENV: 'production', VALKEY_CLUSTER_NODES: 'v0:6379' }).problems.map((p) => p.key)).toEqual(['BFF_SESSION_SECRET']);
  });

  it('Valkey TLS and ACL users: rediss:// or VALKEY_TLS, a CA file, users for the data nodes and the sentinels; every mistake at once, no secret printed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-valkey-ca-'));
    const pem = join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const sentinels = { VALKEY_SENTINELS: 's0:26379', VALKEY_SENTINEL_MASTER: 'bff-primary' };
    expect(loadConfig({ ...BASE, VALKEY_URL: 'rediss://bff:pw-value@valkey:6380', VALKEY_CA_FILE: pem }).valkey).toEqual({
      mode: 'single',
      url: 'rediss://bff:pw-value@valkey:6380',
      tls: { ca: expect.stringContaining('BEGIN CERTIFICATE') },
    });
    expect(loadConfig({ ...BASE, VALKEY_URL: 'rediss://valkey:6380' }).valkey).toEqual({ mode: 'single', url: 'rediss://valkey:6380', tls: {} });
    const env = {
      ...sentinels,
      VALKEY_TLS: 'true',
      VALKEY_CA_FILE: pem,
      VALKEY_USERNAME: 'bff',
      VALKEY_PASSWORD: 'pw-value',
      VALKEY_SENTINEL_USERNAME: 'bff-s',
      VALKEY_SENTINEL_PASSWORD: 'spw-value',
    };
    expect(loadConfig({ ...BASE, ...env }).valkey).toEqual({
      mode: 'sentinel',
      sentinels: [{ host: 's0', port: 26379 }],
      master: 'bff-primary',
      username: 'bff',
      password: 'pw-value',
      sentinelUsername: 'bff-s',
      sentinelPassword: 'spw-value',
      tls: { ca: expect.stringContaining('BEGIN CERTIFICATE') },
    });
    expect(loadConfig({ ...BASE, VALKEY_CLUSTER_NODES: 'v0:6379', VALKEY_TLS: '1', VALKEY_USERNAME: 'bff', VALKEY_PASSWORD: 'pw-value' }).valkey).toEqual({
      mode: 'cluster',
      nodes: [{ host: 'v0', port: 6379 }],
      username: 'bff',
      password: 'pw-value',
      tls: {},
    });
    // Without VALKEY_TLS: no TLS, whatever else is set.
    expect(loadConfig({ ...BASE, VALKEY_CLUSTER_NODES: 'v0:6379', VALKEY_TLS: 'false' }).valkey).toEqual({ mode: 'cluster', nodes: [{ host: 'v0', port: 6379 }] });

    const err = problems({
      ...BASE,
      ...sentinels,
      VALKEY_USERNAME: 'bff',
      VALKEY_SENTINEL_USERNAME: 'has space',
      VALKEY_SENTINEL_PASSWORD: 'spw-value',
      VALKEY_CA_FILE: join(dir, 'missing.pem'),
      VALKEY_TLS: 'yes',
    });
    expect(err.problems).toEqual(
      expect.arrayContaining([
        { key: 'VALKEY_PASSWORD', rule: 'is required with VALKEY_USERNAME (the ACL user’s password)' },
        { key: 'VALKEY_SENTINEL_USERNAME', rule: expect.stringMatching(/ACL user name/) },
        { key: 'VALKEY_CA_FILE', rule: 'must name a readable file' },
        { key: 'VALKEY_TLS', rule: expect.stringMatching(/true, false/) },
      ]),
    );
    expect(err.message).not.toContain('spw-value');
    const keys = (env: Record<string, string>) => problems({ ...BASE, ...env }).problems.map((p) => `${p.key}: ${p.rule}`);
    expect(keys({ VALKEY_URL: 'redis://valkey:6379', VALKEY_TLS: 'true', VALKEY_CA_FILE: pem, VALKEY_USERNAME: 'bff', VALKEY_PASSWORD: 'pw-value' })).toEqual([
      expect.stringMatching(/^VALKEY_USERNAME: is only used with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES \(VALKEY_URL carries its own/),
      expect.stringMatching(/^VALKEY_PASSWORD: is only used with/),
      expect.stringMatching(/^VALKEY_TLS: is only used with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES \(VALKEY_URL says it itself: rediss:\/\/\)/),
      expect.stringMatching(/^VALKEY_CA_FILE: is only used with TLS/),
    ]);
    expect(keys({ VALKEY_CLUSTER_NODES: 'v0:6379', VALKEY_CA_FILE: pem, VALKEY_SENTINEL_USERNAME: 'bff-s', VALKEY_SENTINEL_PASSWORD: 'spw-value' })).toEqual([
      'VALKEY_SENTINEL_USERNAME: is only used with VALKEY_SENTINELS',
      'VALKEY_SENTINEL_PASSWORD: is only used with VALKEY_SENTINELS',
      expect.stringMatching(/^VALKEY_CA_FILE: is only used with TLS/),
    ]);
    expect(keys({ ...sentinels, VALKEY_SENTINEL_USERNAME: 'bff-s' })).toEqual([
      'VALKEY_SENTINEL_PASSWORD: is required with VALKEY_SENTINEL_USERNAME (the ACL user’s password)',
    ]);
  });

  it('requires KEYCLOAK_URL in production, so sandbox mode is refused there', () => {
    expect(problems({ NODE_ENV: 'production' }, { sandbox: true }).problems.map((p) => p.key)).toContain('KEYCLOAK_URL');
  });

  it('refuses the account audience (Keycloak puts it in every user token)', () => {
    expect(problems({ ...BASE, AUTH_AUDIENCE: 'platform-bff,account' }).problems).toEqual([expect.objectContaining({ key: 'AUTH_AUDIENCE' })]);
  });

  it('AUTH_ORIGINAL_URI_HEADER: X-Original-URI by default (nginx), another header name, or none (Envoy: the path suffix only)', () => {
    expect(loadConfig(BASE).auth.originalUriHeader).toBe('x-original-uri');
    expect(loadConfig({ ...BASE, AUTH_ORIGINAL_URI_HEADER: 'X-Forwarded-Uri' }).auth.originalUriHeader).toBe('x-forwarded-uri');
    expect(loadConfig({ ...BASE, AUTH_ORIGINAL_URI_HEADER: 'none' }).auth.originalUriHeader).toBeUndefined();
    for (const bad of ['x original uri', 'x-uri:', 'Authorization', 'cookie', 'host']) {
      expect([bad, problems({ ...BASE, AUTH_ORIGINAL_URI_HEADER: bad }).problems.map((p) => p.key)]).toEqual([bad, ['AUTH_ORIGINAL_URI_HEADER']]);
    }
  });

  it('needs AGENT_MODELS once an LLM provider is configured (no guessed model names)', () => {
    expect(problems({ ...BASE, LLM_BASE_URL: 'http://litellm:4000/v1' }).problems).toEqual([expect.objectContaining({ key: 'AGENT_MODELS' })]);
    expect(loadConfig({ ...BASE, LLM_BASE_URL: 'http://litellm:4000/v1', AGENT_MODELS: 'gpt-4o-mini' }).llm.models).toEqual(['gpt-4o-mini']);
  });

  it('needs the client id and secret once a Keycloak URL is given', () => {
    const keys = problems({ KEYCLOAK_URL: 'https://kc.example.com' }).problems.map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(['KEYCLOAK_REALM', 'BFF_CLIENT_ID', 'BFF_CLIENT_SECRET']));
  });

  it('parses extra issuers, deriving a Keycloak realm’s JWKS and refusing a duplicate', () => {
    const c = loadConfig({
      ...BASE,
      AUTH_EXTRA_ISSUERS: JSON.stringify([
        { issuer: 'https://kc.example.com/realms/tenant-a' },
        { issuer: 'https://idp.example.org', jwksUri: 'https://idp.example.org/keys' },
      ]),
    });
    expect(c.auth.issuers.map((i) => [i.issuer, i.jwksUri, i.kind])).toEqual([
      ['https://kc.example.com/realms/platform', 'https://kc.example.com/realms/platform/protocol/openid-connect/certs', 'keycloak'],
      ['https://kc.example.com/realms/tenant-a', 'https://kc.example.com/realms/tenant-a/protocol/openid-connect/certs', 'keycloak'],
      ['https://idp.example.org', 'https://idp.example.org/keys', 'oidc'],
    ]);
    expect(problems({ ...BASE, AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: 'https://idp.example.org' }]) }).problems[0].key).toBe('AUTH_EXTRA_ISSUERS[0]');
    expect(() => loadConfig({ ...BASE, AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: 'https://kc.example.com/realms/platform' }]) })).toThrow(ConfigError);
  });

  it('adds the HS256 issuer only with its secret and issuer', () => {
    const c = loadConfig({ ...BASE, AUTH_JWT_SECRET: 'k'.repeat(40), AUTH_JWT_SECRET_ISSUER: 'urn:agents' });
    expect(c.auth.issuers.at(-1)).toMatchObject({ issuer: 'urn:agents', kind: 'hs256', algorithms: ['HS256'] });
  });
});
