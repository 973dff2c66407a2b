import type { LevelNeed, RestEndpoint, RestRule } from './mlflow-endpoints';
import { field } from './mlflow-fields';

/**
 * The rows of MLflow 3's traces and assessments (`/api/3.0` and `/ajax-api/3.0`: what `@mlflow.trace`
 * and the UI's traces pages call), with the level MLflow 3.17.2's own auth app gives each
 * (BEFORE_REQUEST_HANDLERS): READ to read a trace, EDIT to start one, tag it or assess it, MANAGE on
 * the experiment to delete traces. Each is decided on the experiment of the trace (mlflow-traces.ts).
 * Part of the endpoint table (mlflow-endpoints.ts), kept here with the messages they carry.
 */

const { string, int, double, enumOf, message, list } = field;
const GET = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;

/** Deleting an experiment's traces (by ids, or older than a time): MANAGE on the experiment, as MLflow's auth app says. */
const DELETE_TRACES: RestEndpoint = {
  methods: POST,
  rule: { op: 'experiment', need: 'MANAGE' },
  fields: { experiment_id: string, max_timestamp_millis: int, max_traces: int, request_ids: list(string) },
};

/** A google.protobuf.Timestamp or Duration, in protobuf's JSON mapping. */
const TIME = string;
const TRACE_LOCATION = message({
  type: enumOf('TRACE_LOCATION_TYPE_UNSPECIFIED', 'MLFLOW_EXPERIMENT', 'INFERENCE_TABLE'),
  mlflow_experiment: message({ experiment_id: string }),
});
/** An assessment of a trace; its values (google.protobuf.Value) are data the BFF decides nothing on. */
const ASSESSMENT = message({
  assessment_id: string,
  assessment_name: string,
  trace_id: string,
  span_id: string,
  source: message({ source_type: enumOf('SOURCE_TYPE_UNSPECIFIED', 'HUMAN', 'LLM_JUDGE', 'CODE'), source_id: string }),
  create_time: TIME,
  last_update_time: TIME,
  feedback: field.json,
  expectation: field.json,
  issue: message({ issue_name: string }),
  rationale: string,
  error: message({ error_code: string, error_message: string, stack_trace: string }),
  metadata: field.map,
  overrides: string,
  valid: field.bool,
});
/**
 * A trace's info as StartTraceV3 takes it. MLflow ignores the spans of a StartTraceV3 (they reach it
 * as OTLP on /v1/traces), so the row takes none.
 */
const TRACE_INFO = message({
  trace_id: string,
  client_request_id: string,
  trace_location: TRACE_LOCATION,
  request: string,
  response: string,
  request_preview: string,
  response_preview: string,
  request_time: TIME,
  execution_duration: TIME,
  state: enumOf('STATE_UNSPECIFIED', 'OK', 'ERROR', 'IN_PROGRESS'),
  trace_metadata: field.map,
  assessments: list(ASSESSMENT),
  tags: field.map,
});
const trace = (need: LevelNeed): RestRule => ({ op: 'trace', need });
const traces = (): RestRule => ({ op: 'traces', need: 'READ' });

export const TRACE_ENDPOINTS: Readonly<Record<string, RestEndpoint>> = Object.freeze({
  '3.0/mlflow/traces': { methods: POST, rule: { op: 'start-trace' }, fields: { trace: message({ trace_info: TRACE_INFO }) } },
  // MLflow's client sends the path's ids in the query too (the request message's fields); they must be the path's.
  '3.0/mlflow/traces/{trace_id}': { methods: GET, rule: trace('READ'), fields: { trace_id: string } },
  '3.0/mlflow/traces/get': { methods: GET, rule: trace('READ'), fields: { trace_id: string, allow_partial: field.bool } },
  // experiment_ids narrows MLflow's lookup: each must be readable too.
  '3.0/mlflow/traces/batchGet': { methods: GET, rule: traces(), fields: { trace_ids: list(string), experiment_ids: list(string) } },
  '3.0/mlflow/traces/batchGetInfos': { methods: POST, rule: traces(), fields: { trace_ids: list(string), experiment_ids: list(string) } },
  '3.0/mlflow/traces/search': {
    methods: POST,
    rule: { op: 'search-traces' },
    fields: { locations: list(TRACE_LOCATION), filter: string, max_results: int, order_by: list(string), page_token: string },
  },
  // The UI's traces charts: READ on every experiment named.
  '3.0/mlflow/traces/metrics': {
    methods: POST,
    rule: { op: 'trace-metrics' },
    fields: {
      experiment_ids: list(string),
      view_type: enumOf('TRACES', 'SPANS', 'ASSESSMENTS'),
      metric_name: string,
      aggregations: list(message({ aggregation_type: enumOf('COUNT', 'SUM', 'AVG', 'PERCENTILE', 'MIN', 'MAX'), percentile_value: double })),
      dimensions: list(string),
      filters: list(string),
      time_interval_seconds: int,
      start_time_ms: int,
      end_time_ms: int,
      max_results: int,
      page_token: string,
    },
  },
  '3.0/mlflow/traces/{trace_id}/tags': {
    methods: ['PATCH', 'DELETE'],
    rule: trace('EDIT'),
    fields: { trace_id: string, key: string },
    methodFields: { PATCH: { trace_id: string, key: string, value: string } },
  },
  '3.0/mlflow/traces/delete-traces': DELETE_TRACES,
  // The Python client's MlflowClient.delete_traces still calls the 2.0 path (DeleteTraces), with the same message.
  '2.0/mlflow/traces/delete-traces': DELETE_TRACES,
  '3.0/mlflow/traces/{trace_id}/assessments': { methods: POST, rule: trace('EDIT'), fields: { assessment: ASSESSMENT } },
  '3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}': {
    methods: [...GET, 'PATCH', 'DELETE'],
    rule: trace({ GET: 'READ', HEAD: 'READ', PATCH: 'EDIT', DELETE: 'EDIT' }),
    fields: { trace_id: string, assessment_id: string },
    methodFields: { PATCH: { assessment: ASSESSMENT, update_mask: string } },
  },
});
