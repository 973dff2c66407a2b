import { followQueryString, statementTarget } from './statement-paths';

describe('statement follow-up paths', () => {
  it('accepts the protocol shapes only', () => {
    expect(statementTarget('queued', '20250101_120000_00001_abcde/y1a2b/1')).toEqual({
      queryId: '20250101_120000_00001_abcde',
      path: '/v1/statement/queued/20250101_120000_00001_abcde/y1a2b/1',
      partialCancel: false,
    });
    expect(statementTarget('executing', 'partialCancel/q_1/0/yab/3')).toEqual({
      queryId: 'q_1',
      path: '/v1/statement/executing/partialCancel/q_1/0/yab/3',
      partialCancel: true,
    });
    for (const bad of ['', 'q', 'q/y', 'q/y/1/2', '../info/y/1', 'q/y/-1', 'q/y%2F/1', 'q/y/1?x', 'q/y.z/1']) {
      expect(statementTarget('executing', bad)).toBeUndefined();
    }
    expect(statementTarget('queued', 'partialCancel/q/0/y/1')).toBeUndefined();
  });

  it('forwards only well-formed maxWait and targetResultSize', () => {
    expect(followQueryString({ maxWait: '1s', targetResultSize: '1MB', other: 'x' })).toBe('?maxWait=1s&targetResultSize=1MB');
    expect(followQueryString({ maxWait: '1s&x=1' })).toBe('');
    expect(followQueryString(undefined)).toBe('');
  });
});
