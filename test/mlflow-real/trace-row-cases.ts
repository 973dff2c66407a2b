import type { RealRowCase } from './row-cases';

/**
 * Level cases of MLflow 3's traces and assessments rows (src/mlflow/mlflow-trace-endpoints.ts), in the
 * order they run against the real MLflow: `ids.trace` is a trace of the test's experiment with the
 * assessment `ids.assessment`; the trace is tagged and untagged, the assessment read, updated and
 * deleted, the trace deleted last. Part of REAL_ROW_CASES (row-cases.ts).
 */
const api = (p: string) => `/api/${p}`;
const ajax = (p: string) => `/ajax-api/${p}`;

/** A new trace id as MLflow's client makes it (`tr-` and the OpenTelemetry trace id in hex). */
export function newTraceId(): string {
  return `tr-${[...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** StartTraceV3's body for a trace of `experiment`. */
export function startTraceBody(experiment: string, traceId: string): unknown {
  return {
    trace: {
      trace_info: {
        trace_id: traceId,
        trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } },
        request_time: new Date().toISOString(),
        execution_duration: '0.010s',
        state: 'OK',
        trace_metadata: { 'mlflow.trace_schema.version': '3' },
        tags: { 'mlflow.traceName': 'level-case' },
      },
    },
  };
}

/** An OTLP/HTTP JSON body of one root span of the trace `traceId` (`tr-` and 32 hex digits), as MLflow takes it on /v1/traces. */
export function otlpJsonSpan(traceId: string, name: string): string {
  const now = `${Date.now()}000000`;
  const span = { traceId: traceId.slice(3), spanId: traceId.slice(3, 19), name, kind: 1, startTimeUnixNano: now, endTimeUnixNano: now, status: { code: 1 } };
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'level-case' }, spans: [span] }] }] });
}

export const TRACE_CASES: RealRowCase[] = [
  {
    row: '3.0/mlflow/traces',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({ path: api('3.0/mlflow/traces'), body: startTraceBody(i.experiment, newTraceId()) }),
  },
  ...['GET', 'HEAD'].flatMap((method): RealRowCase[] => [
    { row: '3.0/mlflow/traces/{trace_id}', method, need: 'READ', request: (i) => ({ path: ajax(`3.0/mlflow/traces/${i.trace}`) }) },
    {
      row: '3.0/mlflow/traces/get',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`3.0/mlflow/traces/get?trace_id=${i.trace}&allow_partial=true`) }),
    },
    {
      row: '3.0/mlflow/traces/batchGet',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`3.0/mlflow/traces/batchGet?trace_ids=${i.trace}`) }),
    },
    {
      row: '3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}',
      method,
      need: 'READ',
      request: (i) => ({ path: api(`3.0/mlflow/traces/${i.trace}/assessments/${i.assessment}`) }),
    },
  ]),
  {
    row: '3.0/mlflow/traces/batchGetInfos',
    method: 'POST',
    need: 'READ',
    request: (i) => ({ path: ajax('3.0/mlflow/traces/batchGetInfos'), body: { trace_ids: [i.trace] } }),
  },
  {
    row: '3.0/mlflow/traces/search',
    method: 'POST',
    need: 'FILTER',
    marker: (i) => i.trace,
    request: (i) => ({
      path: ajax('3.0/mlflow/traces/search'),
      body: { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: i.experiment } }], max_results: 10 },
    }),
  },
  {
    row: '3.0/mlflow/traces/metrics',
    method: 'POST',
    need: 'READ',
    request: (i) => ({
      path: ajax('3.0/mlflow/traces/metrics'),
      body: { experiment_ids: [i.experiment], view_type: 'TRACES', metric_name: 'trace_count', aggregations: [{ aggregation_type: 'COUNT' }] },
    }),
  },
  {
    row: '3.0/mlflow/traces/{trace_id}/tags',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/traces/${i.trace}/tags`), body: { key: 'level', value: 'case' } }),
  },
  {
    row: '3.0/mlflow/traces/{trace_id}/tags',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/traces/${i.trace}/tags`), body: { key: 'level' } }),
  },
  {
    row: '3.0/mlflow/traces/{trace_id}/assessments',
    method: 'POST',
    need: 'EDIT',
    request: (i) => ({
      path: api(`3.0/mlflow/traces/${i.trace}/assessments`),
      body: { assessment: { assessment_name: 'relevance', source: { source_type: 'HUMAN', source_id: 'level-case' }, feedback: { value: true } } },
    }),
  },
  {
    row: '3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}',
    method: 'PATCH',
    need: 'EDIT',
    request: (i) => ({
      path: api(`3.0/mlflow/traces/${i.trace}/assessments/${i.assessment}`),
      body: { assessment: { rationale: 'checked by a level case' }, update_mask: 'rationale' },
    }),
  },
  {
    row: '3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}',
    method: 'DELETE',
    need: 'EDIT',
    request: (i) => ({ path: api(`3.0/mlflow/traces/${i.trace}/assessments/${i.assessment}`) }),
  },
  {
    // The 2.0 path the Python client's delete_traces calls; traces older than 1 ms after the epoch: none, the trace stays.
    row: '2.0/mlflow/traces/delete-traces',
    method: 'POST',
    need: 'MANAGE',
    request: (i) => ({ path: api('2.0/mlflow/traces/delete-traces'), body: { experiment_id: i.experiment, max_timestamp_millis: 1, max_traces: 1 } }),
  },
  {
    row: '3.0/mlflow/traces/delete-traces',
    method: 'POST',
    need: 'MANAGE',
    request: (i) => ({ path: api('3.0/mlflow/traces/delete-traces'), body: { experiment_id: i.experiment, request_ids: [i.trace] } }),
  },
];
