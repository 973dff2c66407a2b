import type { Principal } from '../auth/principal';
import { ProblemException } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { QUERY_ID, QUERY_OWNERSHIP_TTL_MS, QueryOwnership } from './query-ownership';

const who = (issuer: string, subject: string) => ({ issuer, subject, claims: {} }) as unknown as Principal;
const ALICE = who('https://idp.test/realms/a', 'alice-sub');
const Q = '20250101_120000_00001_abcde';

async function status(p: Promise<void>): Promise<{ status: number; reason: string } | 'passed'> {
  try {
    await p;
    return 'passed';
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemException);
    const e = err as ProblemException;
    return { status: e.getStatus(), reason: (e.getResponse() as { reason: string }).reason };
  }
}
const NOT_FOUND = { status: 404, reason: 'not_found' };

describe('QueryOwnership', () => {
  let store: StateStore;
  let owners: QueryOwnership;
  beforeEach(() => {
    store = new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry())); // memory backend
    owners = new QueryOwnership(store);
  });

  it('binds a query to the issuer and subject for 24 h', async () => {
    const setJson = jest.spyOn(store, 'setJson');
    await owners.bind(Q, ALICE, 'alice');
    expect(setJson).toHaveBeenCalledWith(`trino:query-owner:${Q}`, { iss: ALICE.issuer, sub: ALICE.subject, user: 'alice' }, 24 * 60 * 60 * 1000);
    expect(QUERY_OWNERSHIP_TTL_MS).toBe(86_400_000);
    expect(await status(owners.assertOwner(Q, ALICE))).toBe('passed');
  });

  it('anyone else gets 404, as for a query that does not exist', async () => {
    await owners.bind(Q, ALICE, 'alice');
    expect(await status(owners.assertOwner(Q, who(ALICE.issuer, 'bob-sub')))).toEqual(NOT_FOUND);
    // The same subject from another issuer is someone else.
    expect(await status(owners.assertOwner(Q, who('https://other.test', ALICE.subject)))).toEqual(NOT_FOUND);
    expect(await status(owners.assertOwner('20250101_120000_00002_abcde', ALICE))).toEqual(NOT_FOUND);
  });

  it('a malformed query id is 404 without a look-up', async () => {
    const getJson = jest.spyOn(store, 'getJson');
    for (const id of ['', 'a/b', '../x', 'a'.repeat(129), `${Q}?x`, `x${Q}-`]) {
      expect(await status(owners.assertOwner(id, ALICE))).toEqual(NOT_FOUND);
    }
    expect(getJson).not.toHaveBeenCalled();
    expect(QUERY_ID.test('a'.repeat(128))).toBe(true);
    expect(QUERY_ID.test(`-${Q}`)).toBe(false);
    expect(QUERY_ID.test(`${Q}-`)).toBe(false);
  });

  it('an id of 128 characters is looked up', async () => {
    const id = 'a'.repeat(128);
    await owners.bind(id, ALICE, 'alice');
    expect(await status(owners.assertOwner(id, ALICE))).toBe('passed');
  });
});

describe('QueryOwnership.releaseSession (a logged-out identity-provider session)', () => {
  const inSession = (issuer: string, subject: string, sid: string) => ({ issuer, subject, claims: { sid } }) as unknown as Principal;
  const ISS = 'https://idp.test/realms/a';

  it('unbinds exactly the queries of that session (issuer and sid), once', async () => {
    const store = new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry()));
    const owners = new QueryOwnership(store);
    const alice = inSession(ISS, 'alice-sub', 'sid-1');
    await owners.bind('q_1', alice, 'alice');
    await owners.bind('q_2', alice, 'alice-etl');
    await owners.bind('q_3', inSession(ISS, 'alice-sub', 'sid-2'), 'alice');
    await owners.bind('q_4', inSession('https://other.test', 'alice-sub', 'sid-1'), 'alice');

    expect((await owners.releaseSession(ISS, 'sid-1')).sort((a, b) => a.queryId.localeCompare(b.queryId))).toEqual([
      { queryId: 'q_1', user: 'alice' },
      { queryId: 'q_2', user: 'alice-etl' },
    ]);
    const status = async (id: string, who: Principal) =>
      owners.assertOwner(id, who).then(
        () => 'passed',
        (e: ProblemException) => e.getStatus(),
      );
    expect([await status('q_1', alice), await status('q_2', alice), await status('q_3', alice)]).toEqual([404, 404, 'passed']);
    expect(await status('q_4', inSession('https://other.test', 'alice-sub', 'sid-1'))).toBe('passed');
    expect(await owners.releaseSession(ISS, 'sid-1')).toEqual([]);
  });
});
