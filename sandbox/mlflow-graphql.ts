import {
  buildSchema,
  getNamedType,
  getNullableType,
  graphql,
  isEnumType,
  isListType,
  isObjectType,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
} from 'graphql';
import { MLFLOW_GRAPHQL_SCHEMA } from '../src/mlflow/mlflow-graphql-schema';
import type { Params } from './mlflow-messages';

/**
 * The emulator's POST /graphql: MLflow's schema (the one the BFF validates against), with the query fields
 * MLflow's UI asks resolved as MLflow resolves them — through the REST handlers (MLflow calls its `*_impl`
 * handlers), the answer in GraphQL's camelCase names, int64 values as strings (MLflow's LongString), an
 * unset field as protobuf's default (MLflow's resolvers read protobuf messages), an MLflow error as the field's
 * error. A run carries its experiment and its model versions (the emulator
 * keeps none). The answer is MLflow's `{data, errors}` with errors as messages.
 */
const SCHEMA = buildSchema(MLFLOW_GRAPHQL_SCHEMA);

/** MLflow's int64 fields, which its GraphQL schema types as LongString (strings in the answer). */
const LONG = new Set(['startTime', 'endTime', 'creationTime', 'lastUpdateTime', 'timestamp', 'step', 'fileSize', 'creationTimestamp', 'lastUpdatedTimestamp']);

function camel(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => camel(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => {
        const name = k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
        return [name, camel(v, name)];
      }),
    );
  }
  return typeof value === 'number' && LONG.has(key) ? String(value) : value;
}

/** A REST handler of the emulator, by endpoint (`runs/get`), with its parameters in proto names. */
export type RestHandler = (endpoint: string, params: Params) => unknown;

export function graphqlAnswer(rest: RestHandler, body: Params): Promise<Record<string, unknown>> {
  // An MLflow error fails the field: null, and its message in `errors` (as MLflow's resolvers raise it).
  const field = (call: (input: Params) => unknown) => (args: { input?: Params }) => camel(call(snake(args.input ?? {})));
  const withRun = (run: Params) => {
    const info = run.info as { experiment_id: string };
    return { ...run, experiment: (rest('experiments/get', { experiment_id: info.experiment_id }) as Params).experiment, model_versions: [] };
  };
  const rootValue = {
    mlflowGetExperiment: field((input) => rest('experiments/get', input)),
    mlflowGetRun: field((input) => {
      const answer = rest('runs/get', input) as { run: Params };
      return { run: withRun(answer.run) };
    }),
    mlflowSearchRuns: field((input) => {
      const answer = rest('runs/search', input) as { runs?: Params[] };
      return { ...answer, runs: answer.runs?.map(withRun) };
    }),
    mlflowGetMetricHistoryBulkInterval: field((input) => rest('metrics/get-history-bulk-interval', input)),
    mlflowListArtifacts: field((input) => rest('artifacts/list', input)),
  };
  return graphql({
    schema: SCHEMA,
    source: String(body.query ?? ''),
    variableValues: (body.variables as Record<string, unknown> | undefined) ?? undefined,
    operationName: (body.operationName as string | undefined) ?? undefined,
    rootValue,
    fieldResolver: protobufDefaults,
  }).then((result) => ({ data: result.data ?? null, errors: result.errors?.map((e) => e.message) ?? null }));
}

/** GraphQL's input (camelCase) as the REST handlers read it (proto names); nulls left out, as MLflow's parse_dict does. */
function snake(input: Params): Params {
  return Object.fromEntries(
    Object.entries(input)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
  );
}

/**
 * A field's value, or protobuf's default where the emulator's JSON leaves it out (empty lists, "", "0", 0,
 * a message with its defaults): MLflow's resolvers read protobuf messages, where nothing is ever unset.
 * `apiError` is no protobuf field: null unless set.
 */
const protobufDefaults: GraphQLFieldResolver<unknown, unknown> = (source, args, context, info) => {
  const value = (source as Record<string, unknown> | null)?.[info.fieldName];
  if (typeof value === 'function') return (value as (a: unknown, c: unknown, i: unknown) => unknown)(args, context, info);
  if (value !== undefined && value !== null) return value;
  if (info.fieldName === 'apiError') return null;
  return defaultOf(info.returnType);
};

function defaultOf(type: GraphQLOutputType): unknown {
  const nullable = getNullableType(type);
  if (isListType(nullable)) return [];
  if (isObjectType(nullable)) return {};
  if (isEnumType(nullable)) return null;
  switch (getNamedType(nullable).name) {
    case 'String':
      return '';
    case 'LongString':
      return '0';
    case 'Int':
    case 'Float':
      return 0;
    case 'Boolean':
      return false;
    default:
      return null;
  }
}
