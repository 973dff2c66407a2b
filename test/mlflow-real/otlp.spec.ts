import { startTestBff, type TestBff } from '../support/app';
import { usersAtEachLevel, type Level, mlflowUserToken } from '../support/mlflow-levels';
import { runPython, type PyResult } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * OTLP traces as the OpenTelemetry Collector sends them — the OpenTelemetry Python OTLP/HTTP exporter,
 * protobuf, gzipped (client.py's `otlp_export`) — to the BFF's /mlflow/v1/traces, against the real
 * MLflow: a user with EDIT on the experiment writes spans, READ is refused with PERMISSION_DENIED, and
 * spans carrying the trace id of another experiment's trace (MLflow would append them to that trace,
 * whatever X-Mlflow-Experiment-Id says) are refused unless the sender has EDIT on that experiment too.
 */
describe('OTLP /v1/traces through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let mine: string;
  let theirs: string;
  let owner: string;
  let victim: string;
  const tokens = new Map<Level, string>();

  const tokenOf = (username: string) => mlflowUserToken(bff.sandbox.issuer, username);
  const otlp = (token: string, args: Record<string, unknown>): Promise<PyResult> => runPython(mlflow.python, bff.url, token, 'otlp_export', args);
  const experiment = async (token: string, name: string) => {
    const res = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    return ((await res.json()) as { experiment_id: string }).experiment_id;
  };
  /** The trace's experiment and span names, as its owner reads them through the BFF. */
  const traceOf = async (token: string, traceHex: string) => {
    const res = await fetch(`${bff.url}/mlflow/api/3.0/mlflow/traces/get?trace_id=tr-${traceHex}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as {
      trace?: { trace_info: { trace_location: { mlflow_experiment: { experiment_id: string } } }; spans?: Array<{ name: string }> };
    };
    return {
      status: res.status,
      experiment: body.trace?.trace_info.trace_location.mlflow_experiment.experiment_id,
      spans: body.trace?.spans?.map((s) => s.name).sort(),
    };
  };

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    owner = await tokenOf('otlp-owner');
    victim = await tokenOf('otlp-victim');
    mine = await experiment(owner, 'otlp-mine');
    theirs = await experiment(victim, 'otlp-theirs');
    for (const [level, token] of await usersAtEachLevel(bff.url, owner, mine, 'otlp', tokenOf)) tokens.set(level, token);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  it('EDIT sends spans (protobuf, gzip) into the experiment; READ and no grant are refused with PERMISSION_DENIED', async () => {
    const sent = await otlp(tokens.get('EDIT')!, { experiment_id: mine, name: 'edit-span' });
    expect(sent).toMatchObject({ result: 'SUCCESS', messages: [] });
    expect(await traceOf(owner, sent.trace_id as string)).toEqual({ status: 200, experiment: mine, spans: ['edit-span', 'edit-span-child'] });
    const outcomes: string[] = [];
    for (const level of ['READ', 'NO_PERMISSIONS'] as const) {
      const refused = await otlp(tokens.get(level)!, { experiment_id: mine, name: 'refused-span' });
      outcomes.push(`${level}: ${String(refused.result)} ${String(refused.status)} ${String(refused.error_code)}`);
      outcomes.push(`${level}: stored ${(await traceOf(owner, refused.trace_id as string)).status}`);
    }
    expect(outcomes).toEqual([
      'READ: FAILURE 403 PERMISSION_DENIED',
      'READ: stored 404',
      'NO_PERMISSIONS: FAILURE 403 PERMISSION_DENIED',
      'NO_PERMISSIONS: stored 404',
    ]);
  });

  it('spans carrying the trace id of another experiment’s trace are refused; that trace keeps its own spans', async () => {
    const victims = await otlp(victim, { experiment_id: theirs, name: 'victim-span' });
    expect(victims.result).toBe('SUCCESS');
    // EDIT on `mine` only: the header names `mine`, the spans name the victim's trace.
    const attack = await otlp(tokens.get('EDIT')!, { experiment_id: mine, name: 'injected', trace_id: victims.trace_id });
    expect([attack.result, attack.status, attack.error_code]).toEqual(['FAILURE', 403, 'PERMISSION_DENIED']);
    expect(await traceOf(victim, victims.trace_id as string)).toEqual({ status: 200, experiment: theirs, spans: ['victim-span', 'victim-span-child'] });
    // With EDIT on the victim's experiment too, the same spans go through (MLflow appends them to that trace).
    await fetch(`${bff.url}/mlflow-permissions/experiments/${theirs}/users/otlp-edit`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${victim}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permission: 'EDIT' }),
    });
    const allowed = await otlp(tokens.get('EDIT')!, { experiment_id: mine, name: 'appended', trace_id: victims.trace_id });
    expect(allowed.result).toBe('SUCCESS');
    expect((await traceOf(victim, victims.trace_id as string)).spans).toEqual(['appended', 'appended-child', 'victim-span', 'victim-span-child']);
  });
});
