import { controllerHarness, testToken, type ControllerHarness } from '../../test/support/controller';
import { TrinoQueryController } from './trino-query.controller';
import { TrinoQueryService } from './trino-query.service';

describe('POST /trino/query (TrinoQueryController, with the service stood in for)', () => {
  let h: ControllerHarness;
  let run: jest.Mock;
  const post = (payload: unknown, authorization = testToken('alice', ['REGULAR'])) =>
    h.app.inject({ method: 'POST', url: '/trino/query', headers: { authorization }, payload: payload as object });

  beforeAll(async () => {
    h = await controllerHarness(TrinoQueryController);
    run = h.get<{ run: jest.Mock }>(TrinoQueryService).run;
  });
  afterAll(() => h.close());
  beforeEach(() => run.mockReset());

  it('runs the statement as the caller, with the validated body', async () => {
    run.mockResolvedValue({ columns: [], data: [], truncated: false });
    const res = await post({ sql: 'SELECT 1', maxRows: 5 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ columns: [], data: [], truncated: false });
    expect(run).toHaveBeenCalledTimes(1);
    const [auth, body] = run.mock.calls[0] as [{ principal: { subject: string } }, unknown];
    expect(auth.principal.subject).toBe('alice');
    expect(body).toEqual({ sql: 'SELECT 1', maxRows: 5 });
  });

  it.each([
    ['no sql', {}],
    ['an unknown field', { sql: 'SELECT 1', user: 'admin' }],
    ['maxRows over the cap', { sql: 'SELECT 1', maxRows: 10001 }],
    ['a null sql', { sql: null }],
  ])('refuses %s with 400 before the service is called', async (_what, payload) => {
    const res = await post(payload);
    expect([res.statusCode, res.json<{ reason: string }>().reason]).toEqual([400, 'validation_failed']);
    expect(run).not.toHaveBeenCalled();
  });

  it('refuses a caller without a token before validating (401)', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/trino/query', payload: {} });
    expect(res.statusCode).toBe(401);
    expect(run).not.toHaveBeenCalled();
  });
});
