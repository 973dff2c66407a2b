import { principalFromClaims } from '../auth/principal';
import { claimedIdentities, forwardedRequestHeaders, returnedResponseHeaders, trinoCallerFor, trinoUserFor } from './trino-headers';

const principal = (claims: Record<string, unknown>) => principalFromClaims({ sub: 's-1', iss: 'http://idp/realms/platform', exp: 2e9, ...claims }, 'platform-bff');

describe('Trino identity and protocol headers', () => {
  it('names the Trino user from the configured claim, refusing unusable values', () => {
    expect(trinoUserFor(principal({ preferred_username: 'alice' }), 'preferred_username')).toBe('alice');
    expect(trinoUserFor(principal({ email: 'alice@example.com' }), 'email')).toBe('alice@example.com');
    expect(trinoUserFor(principal({}), 'preferred_username')).toBeUndefined();
    expect(trinoUserFor(principal({ preferred_username: 'al\nice' }), 'preferred_username')).toBeUndefined();
    expect(trinoUserFor(principal({ preferred_username: ' alice' }), 'preferred_username')).toBeUndefined();
    expect(trinoUserFor(principal({ preferred_username: 'jöe' }), 'preferred_username')).toBeUndefined();
    expect(trinoUserFor(principal({ preferred_username: ['alice'] }), 'preferred_username')).toBeUndefined();
    expect(() => trinoCallerFor({ principal: principal({}), token: 't' }, 'preferred_username')).toThrow(
      expect.objectContaining({ reason: 'claim_missing', detail: expect.stringMatching(/no usable 'preferred_username' claim/) }),
    );
  });

  it('forwards every X-Trino-* request header except the identity ones', () => {
    const out = forwardedRequestHeaders({
      'x-trino-user': 'mallory',
      'x-trino-original-user': 'root',
      'x-trino-catalog': 'tpch',
      'x-trino-session': 'a=1,b=2',
      'x-trino-client-tags': 'x,y',
      'x-trino-transaction-id': 'NONE',
      'x-trino-extra-credential': 'k=v',
      'user-agent': 'StatementClientV1/475',
      authorization: 'Bearer secret',
      cookie: 'c=1',
      'x-forwarded-host': 'evil',
    });
    expect(out).toEqual({
      'x-trino-catalog': 'tpch',
      'x-trino-session': 'a=1,b=2',
      'x-trino-client-tags': 'x,y',
      'x-trino-transaction-id': 'NONE',
      'x-trino-extra-credential': 'k=v',
      'user-agent': 'StatementClientV1/475',
    });
  });

  it('reports identity headers that differ from the user', () => {
    expect(claimedIdentities({ 'x-trino-user': 'alice' }, 'alice')).toEqual([]);
    expect(claimedIdentities({ 'x-trino-user': 'mallory', 'x-trino-original-user': 'root' }, 'alice')).toEqual([
      { header: 'x-trino-user', value: 'mallory' },
      { header: 'x-trino-original-user', value: 'root' },
    ]);
  });

  it('returns every X-Trino-* response header and the content type, nothing hop-by-hop', () => {
    expect(
      returnedResponseHeaders({
        'x-trino-set-catalog': 'tpch',
        'x-trino-clear-session': 'p',
        'x-trino-added-prepare': 'q=SELECT+1',
        'x-trino-started-transaction-id': 'tx',
        'content-type': 'application/json',
        'content-length': '12',
        connection: 'keep-alive',
        'set-cookie': ['a=b'],
      }),
    ).toEqual({
      'x-trino-set-catalog': 'tpch',
      'x-trino-clear-session': 'p',
      'x-trino-added-prepare': 'q=SELECT+1',
      'x-trino-started-transaction-id': 'tx',
      'content-type': 'application/json',
    });
  });

  it('keeps a repeated header repeated (the values as received, never comma-joined) and a single value with a comma single', () => {
    expect(returnedResponseHeaders({ 'x-trino-set-session': ['a=1', 'b=2'], 'x-trino-set-catalog': 'tpch', 'x-trino-set-path': 'a, b' })).toEqual({
      'x-trino-set-session': ['a=1', 'b=2'],
      'x-trino-set-catalog': 'tpch',
      'x-trino-set-path': 'a, b',
    });
  });

  it('does not forward X-Trino-Query-Data-Encoding: the spooling protocol is negotiated off', () => {
    expect(forwardedRequestHeaders({ 'x-trino-query-data-encoding': 'json+zstd,json', 'x-trino-source': 'cli' })).toEqual({ 'x-trino-source': 'cli' });
  });
});
