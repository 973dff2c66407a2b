import { startTestBff, type TestBff } from '../support/app';
import { usersAtEachLevel, type Level, mlflowUserToken } from '../support/mlflow-levels';
import { runPython } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * Tracing with the real Python client (`@mlflow.trace`, client.py's `trace` scenario) through the BFF
 * to the real MLflow: a user with EDIT on the experiment writes traces, one with READ or no grant is
 * refused (the client's exporter reports the refusal and nothing is stored), and READ gets and
 * searches what EDIT wrote.
 */
describe('@mlflow.trace through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let experimentId: string;
  const tokens = new Map<Level, string>();

  const tokenOf = (username: string) => mlflowUserToken(bff.sandbox.issuer, username);
  const python = (level: Level, scenario: string, args: Record<string, unknown>) => runPython(mlflow.python, bff.url, tokens.get(level)!, scenario, args);

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    const owner = await tokenOf('trace-owner');
    const created = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'py-traces' }),
    });
    experimentId = ((await created.json()) as { experiment_id: string }).experiment_id;
    for (const [level, token] of await usersAtEachLevel(bff.url, owner, experimentId, 'trace', tokenOf)) tokens.set(level, token);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  let written: Record<string, unknown> = {};

  it('EDIT traces a function; READ gets and searches the trace', async () => {
    written = await python('EDIT', 'trace', { experiment_id: experimentId });
    expect(written).toMatchObject({ output: 41, export_errors: [], spans: ['inner', 'predict'], searched: [written.trace_id] });
    const read = await python('READ', 'read_traces', { experiment_id: experimentId, trace_id: written.trace_id });
    expect(read).toEqual({ spans: ['inner', 'predict'], searched: [written.trace_id] });
  });

  // READ: the client traces, MLflow refuses the trace (the exporter logs PERMISSION_DENIED); no grant: the client
  // cannot read the experiment, so it starts no trace at all.
  it.each([
    ['READ', 'PERMISSION_DENIED'],
    ['NO_PERMISSIONS', 'no trace started'],
  ] as const)('%s cannot write a trace (%s), nothing is stored', async (level, refusal) => {
    const refused = await python(level, 'trace', { experiment_id: experimentId });
    const messages = refused.export_errors as string[];
    const after = await python('MANAGE', 'read_traces', { experiment_id: experimentId });
    expect({
      output: refused.output,
      refusal: refused.trace_id === null ? 'no trace started' : messages.some((m) => m.includes('PERMISSION_DENIED')) ? 'PERMISSION_DENIED' : messages,
      stored: (after.searched as string[]).filter((id) => id !== written.trace_id),
    }).toEqual({ output: 41, refusal, stored: [] });
  });
});
