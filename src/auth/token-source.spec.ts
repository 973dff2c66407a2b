import { AuthFailure } from './auth-failure';
import { extractToken, originalUriCredentials, queryValues } from './token-source';

function failure(fn: () => unknown): { status: number; reason: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthFailure);
    const f = err as AuthFailure;
    return { status: f.status, reason: f.reason };
  }
  throw new Error('expected an AuthFailure');
}

const T = 'aaa.bbb.ccc';
const TICKET = 'A'.repeat(43);
const REACT = '/api/agents/agent-1/react';

describe('extractToken', () => {
  it('takes a Bearer token, case-insensitively', () => {
    expect(extractToken({ authorization: `Bearer ${T}` })).toBe(T);
    expect(extractToken({ authorization: `bEARER ${T}` })).toBe(T);
    expect(extractToken({ authorization: [`Bearer ${T}`, 'Bearer other'] })).toBe(T);
  });

  it('no credential at all: undefined', () => {
    expect(extractToken({})).toBeUndefined();
    expect(extractToken({ authorization: '' })).toBeUndefined();
    expect(extractToken({ queryTokens: [undefined, ''] })).toBeUndefined();
    expect(extractToken({ bodyToken: '' })).toBeUndefined();
    expect(extractToken({ bodyToken: null })).toBeUndefined();
  });

  it('other schemes (Basic) are not token sources', () => {
    expect(extractToken({ authorization: 'Basic dXNlcjpwdw==' })).toBeUndefined();
    expect(extractToken({ authorization: 'Bearerx abc' })).toBeUndefined();
    expect(extractToken({ authorization: 'Token abc', queryTokens: [T] })).toBe(T);
    // Another scheme of Bearer's length is not Bearer either.
    expect(extractToken({ authorization: 'Digest username="a"' })).toBeUndefined();
    expect(extractToken({ authorization: 'Bearxr abc' })).toBeUndefined();
  });

  it.each(['Bearer', 'Bearer ', 'Bearer  a', 'Bearer a b'])('a malformed Bearer header %j is 401 token_invalid', (header) => {
    expect(failure(() => extractToken({ authorization: header }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('takes the access-token query value and the body token', () => {
    expect(extractToken({ queryTokens: [T] })).toBe(T);
    expect(extractToken({ bodyToken: T })).toBe(T);
  });

  it('the same token in several places counts once', () => {
    expect(extractToken({ authorization: `Bearer ${T}`, queryTokens: [T, T], bodyToken: T })).toBe(T);
  });

  it.each([
    ['header and query', { authorization: `Bearer ${T}`, queryTokens: ['x.y.z'] }],
    ['two query values', { queryTokens: [T, 'x.y.z'] }],
    ['query and body', { queryTokens: [T], bodyToken: 'x.y.z' }],
    ['header and body', { authorization: `Bearer ${T}`, bodyToken: 'x.y.z' }],
    ['a first query value then another', { queryTokens: ['x.y.z', T] }],
  ])('two different tokens (%s) are 400 ambiguous_token', (_what, src) => {
    expect(failure(() => extractToken(src))).toEqual({ status: 400, reason: 'ambiguous_token' });
  });

  it('a body token that is not a string is 400 validation_failed', () => {
    expect(failure(() => extractToken({ bodyToken: 42 }))).toEqual({ status: 400, reason: 'validation_failed' });
    expect(failure(() => extractToken({ bodyToken: { t: T } }))).toEqual({ status: 400, reason: 'validation_failed' });
  });
});

describe('queryValues', () => {
  it('every value of one parameter, decoded', () => {
    expect(queryValues('/p?a=1&b=2&a=%33', 'a')).toEqual(['1', '3']);
    expect(queryValues('/p?b=2', 'a')).toEqual([]);
    expect(queryValues('/p', 'a')).toEqual([]);
    expect(queryValues(undefined, 'a')).toEqual([]);
    expect(queryValues('', 'a')).toEqual([]);
    expect(queryValues('a=1', 'a')).toEqual([]);
    expect(queryValues('?a=1', 'a')).toEqual(['1']);
  });
});

describe('originalUriCredentials (what a gateway check may take from the URI)', () => {
  it('the agent upgrade: access-token values and one ticket', () => {
    expect(originalUriCredentials([`${REACT}?access-token=${T}`], 'GET')).toEqual({ accessTokens: [T] });
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`], 'get')).toEqual({
      accessTokens: [],
      wsTicket: { agentId: 'agent-1', ticket: TICKET, ambiguous: false },
    });
  });

  it('the same ticket in the suffix and the header URI is one ticket', () => {
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`, `${REACT}?ticket=${TICKET}`], 'GET').wsTicket).toEqual({
      agentId: 'agent-1',
      ticket: TICKET,
      ambiguous: false,
    });
  });

  it('several tickets in one URI, or different ones across URIs, are ambiguous', () => {
    const other = 'B'.repeat(43);
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}&ticket=${TICKET}`], 'GET').wsTicket).toEqual({
      agentId: 'agent-1',
      ticket: TICKET,
      ambiguous: true,
    });
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`, `${REACT}?ticket=${other}`], 'GET').wsTicket?.ambiguous).toBe(true);
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`, `${REACT}`], 'GET').wsTicket?.ambiguous).toBe(false);
    // Two of the same ticket in one of the URIs is already two tickets.
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}&ticket=${TICKET}`, `${REACT}?ticket=${TICKET}`], 'GET').wsTicket?.ambiguous).toBe(true);
  });

  it('URIs of two different agents present nothing', () => {
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`, `/api/agents/agent-2/react?ticket=${TICKET}`], 'GET')).toEqual({ accessTokens: [] });
  });

  it.each([
    ['another path', `/api/agents/agent-1/messages?ticket=${TICKET}&access-token=${T}`],
    ['a path before the agent upgrade path (the ^ anchor)', `/anything/api/agents/agent-1/react?ticket=${TICKET}&access-token=${T}`],
    ['a path after it (the $ anchor)', `/api/agents/agent-1/react/x?ticket=${TICKET}&access-token=${T}`],
    ['a non-normalised spelling', `/api/agents/./agent-1/react?ticket=${TICKET}`],
    ['an agent id with other characters', `/api/agents/agent_1/react?ticket=${TICKET}`],
    ['an agent id too long', `/api/agents/${'a'.repeat(65)}/react?ticket=${TICKET}`],
    ['an empty agent id', `/api/agents//react?ticket=${TICKET}`],
  ])('%s: nothing in the URI counts', (_what, uri) => {
    expect(originalUriCredentials([uri], 'GET')).toEqual({ accessTokens: [] });
  });

  it('an agent id of 64 characters is the upgrade path', () => {
    const id = 'a'.repeat(64);
    expect(originalUriCredentials([`/api/agents/${id}/react?ticket=${TICKET}`], 'GET').wsTicket?.agentId).toBe(id);
  });

  it('a second URI that is not the upgrade path voids the first', () => {
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`, `/api/agents/agent-1/messages`], 'GET')).toEqual({ accessTokens: [] });
  });

  it('only GET, and only when some URI is given', () => {
    expect(originalUriCredentials([`${REACT}?ticket=${TICKET}`], 'POST')).toEqual({ accessTokens: [] });
    expect(originalUriCredentials([], 'GET')).toEqual({ accessTokens: [] });
  });

  it('the ticket is matched by its literal name only; its value is decoded', () => {
    expect(originalUriCredentials([`${REACT}?%74icket=${TICKET}`], 'GET')).toEqual({ accessTokens: [] });
    expect(originalUriCredentials([`${REACT}?ticketx=${TICKET}&xticket=${TICKET}`], 'GET')).toEqual({ accessTokens: [] });
    expect(originalUriCredentials([`${REACT}?ticket=a%2Bb+c`], 'GET').wsTicket?.ticket).toBe('a+b c');
    expect(originalUriCredentials([`${REACT}?ticket`], 'GET').wsTicket).toEqual({ agentId: 'agent-1', ticket: '', ambiguous: false });
    expect(originalUriCredentials([`${REACT}?a=1&ticket=${TICKET}=x`], 'GET').wsTicket?.ticket).toBe(`${TICKET}=x`);
  });
});
