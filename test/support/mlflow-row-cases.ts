import type { Level } from './mlflow-levels';

/**
 * One case per row and method of the endpoint table, with the level the design gives it (written
 * here, not read from the table: lowering a row's level in the table must make a test fail). The
 * rows the sandbox MLflow serves: test/integration/mlflow-decisions.spec.ts runs them through the
 * BFF against it, src/mlflow/mlflow-rest.spec.ts through the decision code alone (with the rows of
 * test/mlflow-real/row-cases.ts).
 */
export interface RowCase {
  row: string;
  method: string;
  /** ANY: every caller; a level: refused just below it, allowed at it; FILTER: below READ the experiment is left out of the answer. */
  need: 'ANY' | 'FILTER' | Exclude<Level, 'NO_PERMISSIONS'>;
  /** The path under /mlflow and the JSON body, for the experiment and run of the test. */
  request: (ids: { experiment: string; run: string; name: string }) => { path: string; body?: unknown };
  /** Decided on MLflow's answer (get-by-name): a refusal has asked MLflow, and answers its own 403 instead. */
  decidedOnAnswer?: true;
}
export const api = (row: string) => `/api/${row}`;
export const ROW_CASES: RowCase[] = [
  // Answered by the BFF itself (never forwarded), to any caller.
  ...['2.0/mlflow/users/current', '2.0/mlflow/gateway-proxy', '3.0/mlflow/assistant/config', '3.0/mlflow/assistant/providers'].map((row): RowCase => ({
    row,
    method: 'GET',
    need: 'ANY',
    request: () => ({ path: `/ajax-api/${row}${row.endsWith('gateway-proxy') ? '?gateway_path=api/2.0/endpoints/' : ''}` }),
  })),
  {
    row: '2.0/mlflow/experiments/create',
    method: 'POST',
    need: 'ANY',
    request: () => ({ path: api('2.0/mlflow/experiments/create'), body: { name: `any-${Math.random()}` } }),
  },
  ...['GET', 'HEAD'].map((method): RowCase => ({
    row: '2.0/mlflow/experiments/get',
    method,
    need: 'READ',
    request: (i) => ({ path: api(`2.0/mlflow/experiments/get?experiment_id=${i.experiment}`) }),
  })),
  ...['GET', 'HEAD'].map((method): RowCase => ({
    row: '2.0/mlflow/experiments/get-by-name',
    method,
    need: 'READ',
    decidedOnAnswer: true,
    request: (i) => ({ path: api(`2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(i.name)}`) }),
  })),
  ...['GET', 'HEAD'].map((method): RowCase => ({
    row: '2.0/mlflow/experiments/search',
    method,
    need: 'FILTER',
    request: () => ({ path: api('2.0/mlflow/experiments/search?max_results=1000') }),
  })),
  {
    row: '2.0/mlflow/experiments/search',
    method: 'POST',
    need: 'FILTER',
    request: () => ({ path: api('2.0/mlflow/experiments/search'), body: { max_results: 1000 } }),
  },
  {
    row: '2.0/mlflow/experiments/update',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/experiments/update'), body: { experiment_id: i.experiment, new_name: i.name } }),
  },
  {
    row: '2.0/mlflow/experiments/set-experiment-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/experiments/set-experiment-tag'), body: { experiment_id: i.experiment, key: 't', value: 'v' } }),
  },
  {
    row: '2.0/mlflow/experiments/delete-experiment-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/experiments/delete-experiment-tag'), body: { experiment_id: i.experiment, key: 't' } }),
  },
  {
    row: '2.0/mlflow/experiments/delete',
    method: 'POST',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/experiments/delete'), body: { experiment_id: i.experiment } }),
  },
  {
    row: '2.0/mlflow/experiments/restore',
    method: 'POST',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/experiments/restore'), body: { experiment_id: i.experiment } }),
  },
  { row: '2.0/mlflow/runs/create', method: 'POST', need: 'EDIT', request: (i) => ({ path: api('2.0/mlflow/runs/create'), body: { experiment_id: i.experiment } }) },
  ...['GET', 'HEAD'].map((method): RowCase => ({
    row: '2.0/mlflow/runs/get',
    method,
    need: 'READ',
    request: (i) => ({ path: api(`2.0/mlflow/runs/get?run_id=${i.run}`) }),
  })),
  {
    row: '2.0/mlflow/runs/search',
    method: 'POST',
    need: 'FILTER',
    request: (i) => ({ path: api('2.0/mlflow/runs/search'), body: { experiment_ids: [i.experiment] } }),
  },
  {
    row: '2.0/mlflow/runs/update',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/update'), body: { run_id: i.run, status: 'RUNNING' } }),
  },
  {
    row: '2.0/mlflow/runs/log-metric',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/log-metric'), body: { run_id: i.run, key: 'loss', value: 1, timestamp: 1, step: 3 } }),
  },
  {
    row: '2.0/mlflow/runs/log-parameter',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/log-parameter'), body: { run_id: i.run, key: 'p', value: '1' } }),
  },
  {
    row: '2.0/mlflow/runs/log-batch',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({
      path: api('2.0/mlflow/runs/log-batch'),
      body: { run_id: i.run, metrics: [{ key: 'loss', value: 2, timestamp: 2, step: 4, run_id: i.run }] },
    }),
  },
  {
    row: '2.0/mlflow/runs/log-model',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/log-model'), body: { run_id: i.run, model_json: '{}' } }),
  },
  {
    row: '2.0/mlflow/runs/log-inputs',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/log-inputs'), body: { run_id: i.run, datasets: [] } }),
  },
  {
    row: '2.0/mlflow/runs/set-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/set-tag'), body: { run_id: i.run, key: 'k', value: 'v' } }),
  },
  {
    row: '2.0/mlflow/runs/delete-tag',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('2.0/mlflow/runs/delete-tag'), body: { run_id: i.run, key: 'k' } }),
  },
  { row: '2.0/mlflow/runs/delete', method: 'POST', need: 'MANAGE', request: (i) => ({ path: api('2.0/mlflow/runs/delete'), body: { run_id: i.run } }) },
  { row: '2.0/mlflow/runs/restore', method: 'POST', need: 'MANAGE', request: (i) => ({ path: api('2.0/mlflow/runs/restore'), body: { run_id: i.run } }) },
  ...['GET', 'HEAD'].flatMap((method): RowCase[] => [
    {
      row: '2.0/mlflow/metrics/get-history',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow/metrics/get-history?run_id=${i.run}&metric_key=loss`) }),
    },
    {
      row: '2.0/mlflow/metrics/get-history-bulk',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow/metrics/get-history-bulk?run_id=${i.run}&metric_key=loss`) }),
    },
    {
      row: '2.0/mlflow/metrics/get-history-bulk-interval',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow/metrics/get-history-bulk-interval?run_ids=${i.run}&metric_key=loss`) }),
    },
    { row: '2.0/mlflow/artifacts/list', method, need: 'READ', request: (i) => ({ path: api(`2.0/mlflow/artifacts/list?run_id=${i.run}`) }) },
    {
      row: '2.0/mlflow-artifacts/artifacts',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow-artifacts/artifacts?path=${i.experiment}/${i.run}/artifacts`) }),
    },
  ]),
  // The artifact is uploaded first, read, then deleted last.
  {
    row: '2.0/mlflow-artifacts/artifacts/*',
    method: 'PUT',
    need: 'EDIT',
    request: (i) => ({ path: api(`2.0/mlflow-artifacts/artifacts/${i.experiment}/${i.run}/artifacts/f.txt`), body: 'artifact' }),
  },
  ...['GET', 'HEAD'].flatMap((method): RowCase[] => [
    {
      row: '2.0/mlflow-artifacts/artifacts/*',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`2.0/mlflow-artifacts/artifacts/${i.experiment}/${i.run}/artifacts/f.txt`) }),
    },
    { row: '/get-artifact', method, need: 'READ', request: (i) => ({ path: `/get-artifact?path=f.txt&run_uuid=${i.run}` }) },
  ]),
  {
    row: '2.0/mlflow-artifacts/artifacts/*',
    method: 'DELETE',
    need: 'MANAGE',
    request: (i) => ({ path: api(`2.0/mlflow-artifacts/artifacts/${i.experiment}/${i.run}/artifacts/f.txt`) }),
  },
];
