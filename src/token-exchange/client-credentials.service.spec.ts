import { ProblemException } from '../common/problem';
import { ClientCredentialsService, refreshMarginS } from './client-credentials.service';
import { TokenEndpointError, type TokenEndpointClient, type TokenResponse } from './token-endpoint.client';

function fakeEndpoint(answers: Array<() => Promise<TokenResponse>>) {
  let calls = 0;
  const endpoint = {
    clientCredentials: () => {
      const answer = answers[Math.min(calls, answers.length - 1)];
      calls++;
      return answer();
    },
  } as unknown as TokenEndpointClient;
  return { endpoint, calls: () => calls };
}

describe('refreshMarginS', () => {
  it('is a quarter of the life, between 1 and 30 s', () => {
    expect(refreshMarginS(300)).toBe(30);
    expect(refreshMarginS(60)).toBe(15);
    expect(refreshMarginS(2)).toBe(1);
  });
});

describe('ClientCredentialsService', () => {
  let now = 1_000_000_000_000;
  beforeEach(() => {
    now = 1_000_000_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());

  it('caches the token until shortly before it expires, with one renewal for concurrent callers', async () => {
    let n = 0;
    const { endpoint, calls } = fakeEndpoint([async () => ({ accessToken: `sa-${++n}`, expiresIn: 300 })]);
    const svc = new ClientCredentialsService(endpoint);
    expect(await Promise.all([svc.token(), svc.token(), svc.token()])).toEqual(['sa-1', 'sa-1', 'sa-1']);
    now += 269_000;
    expect(await svc.token()).toBe('sa-1');
    expect(calls()).toBe(1);
    now += 2_000; // 271 s: inside the 30 s margin
    expect(await Promise.all([svc.token(), svc.token()])).toEqual(['sa-2', 'sa-2']);
    expect(calls()).toBe(2);
  });

  it('keeps the current token when a renewal fails while it is still valid', async () => {
    const { endpoint } = fakeEndpoint([
      async () => ({ accessToken: 'sa-1', expiresIn: 300 }),
      async () => {
        throw new TokenEndpointError('unavailable', 'the identity provider is unreachable');
      },
    ]);
    const svc = new ClientCredentialsService(endpoint);
    expect(await svc.token()).toBe('sa-1');
    now += 280_000;
    expect(await svc.token()).toBe('sa-1');
    now += 17_000; // 3 s left: no longer handed out
    const err = (await svc.token().catch((e: unknown) => e)) as ProblemException;
    expect(err.getStatus()).toBe(503);
    expect(err.reason).toBe('identity_provider_unavailable');
  });

  it('a refusal of its own credentials is 503 identity_provider_unavailable (a caller cannot fix it)', async () => {
    const { endpoint } = fakeEndpoint([
      async () => {
        throw new TokenEndpointError('refused', 'the identity provider refused (401 unauthorized_client)', 401, 'unauthorized_client');
      },
    ]);
    const err = (await new ClientCredentialsService(endpoint).token().catch((e: unknown) => e)) as ProblemException;
    expect(err).toBeInstanceOf(ProblemException);
    expect(err.getStatus()).toBe(503);
    expect(err.detail).toContain('401 unauthorized_client');
  });
});
