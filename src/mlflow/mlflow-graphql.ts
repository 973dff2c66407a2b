import { Injectable } from '@nestjs/common';
import {
  buildSchema,
  getArgumentValues,
  getVariableValues,
  GraphQLError,
  Kind,
  parse,
  print,
  validate,
  type DocumentNode,
  type FieldNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Principal } from '../auth/principal';
import { problem } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import type { RestDecision } from './mlflow-call';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID, MODEL_ID, RUN_ID } from './mlflow-endpoints';
import { MLFLOW_GRAPHQL_SCHEMA } from './mlflow-graphql-schema';
import { MlflowPermissionService } from './mlflow-permission.service';
import type { Target } from './mlflow-target';

const SCHEMA = buildSchema(MLFLOW_GRAPHQL_SCHEMA);
const QUERY = SCHEMA.getQueryType()!;
/** MLflow's own cap on a document's depth (graphql_no_batching.py). */
const MAX_DEPTH = 10;
/** Far above the UI's largest document (GetRun, about 200 tokens). */
const MAX_TOKENS = 2000;
/** The keys of MLflow's GraphQL request body (Apollo's HttpLink sends these three). */
const BODY_KEYS = new Set(['query', 'variables', 'operationName']);

type Input = Record<string, unknown>;

/**
 * The query fields the BFF lets through, each with what the caller must be able to read, and the
 * input rebuilt from the decided values alone. They are the fields MLflow 3.17.2's UI asks
 * (MlflowGetExperimentQuery, GetRun, SearchRuns, GetMetricHistoryBulkInterval) and mlflowListArtifacts,
 * all of which MLflow's own auth app protects (GraphQLAuthorizationMiddleware.PROTECTED_FIELDS).
 * Not listed, so refused: mlflowSearchModelVersions (the REST search serves it, filtered), `test`,
 * introspection, and every mutation (MLflow's Mutation type repeats mlflowSearchRuns and adds
 * mlflowSearchDatasets; the UI asks neither).
 */
type FieldDecider = (input: Input, d: GraphqlDecisions) => Promise<Input>;
const FIELDS: Readonly<Record<string, FieldDecider>> = {
  mlflowGetExperiment: async (input, d) => {
    const experimentId = d.experimentId(input.experimentId);
    await d.require(experimentId, 'READ');
    return { experimentId };
  },
  mlflowGetRun: async (input, d) => ({ runId: await d.readRun(input.runId, input.runUuid) }),
  mlflowListArtifacts: async (input, d) => ({ runId: await d.readRun(input.runId, input.runUuid), ...pick(input, 'path', 'pageToken') }),
  mlflowGetMetricHistoryBulkInterval: async (input, d) => {
    const runIds = (input.runIds ?? []) as unknown[];
    if (runIds.length === 0) throw problem.badRequest('runIds is required');
    for (const runId of new Set(runIds)) await d.readRun(runId, undefined);
    return { runIds, ...pick(input, 'metricKey', 'startStep', 'endStep', 'maxResults') };
  },
  mlflowSearchRuns: async (input, d) => {
    const requested = (input.experimentIds ?? []) as unknown[];
    const ids = requested.map((id) => d.experimentId(id));
    const readable = await d.readable(ids);
    // MLflow's auth app narrows the ids the same way and answers nothing when none is left.
    if (readable.length === 0) throw d.denied('READ on one of experimentIds is needed');
    return { experimentIds: readable, ...pick(input, 'filter', 'runViewType', 'maxResults', 'orderBy', 'pageToken') };
  },
};

function pick(input: Input, ...keys: string[]): Input {
  return Object.fromEntries(keys.filter((k) => input[k] !== undefined && input[k] !== null).map((k) => [k, input[k]]));
}

/** What a field decider may ask of the caller's permissions. */
interface GraphqlDecisions {
  experimentId(id: unknown): string;
  require(experimentId: string, need: MlflowPermissionLevel): Promise<void>;
  /** The run's id, once the caller may read its experiment. */
  readRun(runId: unknown, runUuid: unknown): Promise<string>;
  readable(experimentIds: string[]): Promise<string[]>;
  denied(detail: string): Error;
}

/**
 * POST /graphql, decided per query field and argument as MLflow's auth app and mlflow-oidc-auth decide
 * it, but before MLflow sees anything: the document is parsed (the `graphql` package's parser) and
 * validated against MLflow's schema; it must be one query operation without fragments, aliases or
 * directives (but MLflow's own `@component` on the operation), each field asked once. Every field must
 * be listed in FIELDS and its resource readable by the caller; its input is coerced with the variables
 * (wrong types refused) and rebuilt from what was decided. MLflow gets a document the BFF printed from
 * the decided AST, each field's input as a variable of the BFF's, and the decided variables alone. The
 * answer leaves out what names a resource the caller may not read: a run's model versions of registered
 * models without READ, and logged models (inputs, outputs) of experiments without READ.
 */
@Injectable()
export class MlflowGraphqlDecider {
  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
  ) {}

  async decide(principal: Principal, target: Target, body: Record<string, unknown>): Promise<RestDecision> {
    const operation = operationOf(body);
    if (operation.operation !== 'query') throw this.denials.denied(principal, target, 'graphql_field', 'only GraphQL queries are forwarded to MLflow');
    const fields = rootFields(operation);
    const variables = body.variables ?? {};
    if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) throw problem.badRequest('variables must be a JSON object');
    const coerced = getVariableValues(SCHEMA, operation.variableDefinitions ?? [], variables as Input, { maxErrors: 5 });
    if (coerced.errors) throw invalid(coerced.errors);

    const d: GraphqlDecisions = {
      experimentId: (id) => {
        if (typeof id !== 'string' || !EXPERIMENT_ID.test(id)) throw problem.badRequest('experiment ids must be numeric');
        return id;
      },
      require: async (experimentId, need) => {
        if (!(await this.permissions.can(principal, experimentId, need))) throw d.denied(`${need} on experiment ${experimentId} is needed`);
      },
      readRun: async (runId, runUuid) => {
        if (runId !== undefined && runId !== null && runUuid !== undefined && runUuid !== null && runId !== runUuid) {
          throw problem.badRequest('runId and runUuid name different runs');
        }
        const id = runId ?? runUuid;
        if (typeof id !== 'string' || !RUN_ID.test(id)) throw problem.badRequest('a run id is required');
        const experimentId = await this.permissions.experimentOfRun(id);
        if (experimentId === undefined) throw problem.notFound(`no run ${id}`);
        await d.require(experimentId, 'READ');
        return id;
      },
      readable: async (ids) => {
        const readable = await this.permissions.readable(principal, ids);
        return [...new Set(ids.filter((id) => readable.has(id)))];
      },
      denied: (detail) => this.denials.denied(principal, target, 'permission', detail),
    };

    const decided: Input = {};
    const definitions: VariableDefinitionNode[] = [];
    const selections: FieldNode[] = [];
    for (const [i, node] of fields.entries()) {
      const decide = Object.hasOwn(FIELDS, node.name.value) ? FIELDS[node.name.value] : undefined;
      if (!decide) throw this.denials.denied(principal, target, 'graphql_field', `the GraphQL field ${node.name.value} is not one the BFF exposes`);
      const def = QUERY.getFields()[node.name.value];
      const input = getArgumentValues(def, node, coerced.variableValues).input as Input | undefined;
      if (!input) throw problem.badRequest(`${node.name.value} needs its input`);
      const name = `input${i}`;
      decided[name] = await decide(input, d);
      definitions.push({
        kind: Kind.VARIABLE_DEFINITION,
        variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: name } },
        type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: def.args[0].type.toString() } },
      });
      selections.push({
        ...node,
        arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'input' }, value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: name } } }],
      });
    }
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [{ ...operation, variableDefinitions: definitions, selectionSet: { kind: Kind.SELECTION_SET, selections } }],
    };
    const rebuilt: Input = { query: print(document), variables: decided, ...(operation.name ? { operationName: operation.name.value } : {}) };
    return {
      forward: {
        method: 'POST',
        query: '',
        body: Buffer.from(JSON.stringify(rebuilt)),
        contentType: 'application/json',
        inspect: async (answer) => this.withheld(principal, answer),
      },
    };
  }

  /** The answer without the model versions and logged models the caller may not read. */
  private async withheld(principal: Principal, answer: Record<string, unknown>): Promise<Record<string, unknown>> {
    const data = answer.data as Record<string, { run?: unknown; runs?: unknown } | null> | null | undefined;
    if (!data || typeof data !== 'object') return answer;
    const runs = Object.values(data).flatMap((field) => [
      ...(field?.run && typeof field.run === 'object' ? [field.run] : []),
      ...(Array.isArray(field?.runs) ? field.runs : []),
    ]) as GraphqlRun[];
    for (const run of runs) {
      if (Array.isArray(run.modelVersions)) {
        const names = run.modelVersions.map((v) => String(v?.name));
        const readable = await this.permissions.readable(principal, names, 'registered-model');
        run.modelVersions = run.modelVersions.filter((v) => readable.has(String(v?.name)));
      }
      if (Array.isArray(run.inputs?.modelInputs)) run.inputs.modelInputs = await this.readableModels(principal, run.inputs.modelInputs);
      if (Array.isArray(run.outputs?.modelOutputs)) run.outputs.modelOutputs = await this.readableModels(principal, run.outputs.modelOutputs);
    }
    return answer;
  }

  private async readableModels<T extends { modelId?: unknown }>(principal: Principal, models: T[]): Promise<T[]> {
    const kept: T[] = [];
    for (const model of models) {
      const id = model?.modelId;
      const experimentId = typeof id === 'string' && MODEL_ID.test(id) ? await this.permissions.experimentOfModel(id) : undefined;
      if (experimentId !== undefined && (await this.permissions.can(principal, experimentId, 'READ'))) kept.push(model);
    }
    return kept;
  }
}

interface GraphqlRun {
  modelVersions?: Array<{ name?: unknown }>;
  inputs?: { modelInputs?: Array<{ modelId?: unknown }> };
  outputs?: { modelOutputs?: Array<{ modelId?: unknown }> };
}

function invalid(errors: readonly GraphQLError[]): Error {
  return problem.badRequest(
    `the GraphQL document is not one MLflow takes: ${errors[0].message}`,
    errors.slice(0, 5).map((e) => ({ field: 'query', message: e.message })),
  );
}

/** The one query operation of the body, parsed and valid against MLflow's schema. */
function operationOf(body: Record<string, unknown>): OperationDefinitionNode {
  const extra = Object.keys(body).filter((k) => !BODY_KEYS.has(k));
  if (extra.length > 0) throw problem.badRequest(`a GraphQL request has query, variables and operationName only (not ${extra.join(', ')})`);
  if (typeof body.query !== 'string' || body.query.trim() === '') throw problem.badRequest('query must be a GraphQL document');
  let document: DocumentNode;
  try {
    document = parse(body.query, { noLocation: true, maxTokens: MAX_TOKENS });
  } catch (err) {
    throw invalid([err instanceof GraphQLError ? err : new GraphQLError('the document could not be parsed')]);
  }
  if (document.definitions.length !== 1 || document.definitions[0].kind !== Kind.OPERATION_DEFINITION) {
    throw problem.badRequest('a GraphQL request is one operation, without fragments');
  }
  const operation = document.definitions[0];
  const name = body.operationName;
  if (name !== undefined && name !== null && name !== operation.name?.value) throw problem.badRequest('operationName must name the document’s operation');
  const errors = validate(SCHEMA, document);
  if (errors.length > 0) throw invalid(errors);
  if ((operation.directives ?? []).some((d) => d.name.value !== 'component' || d.arguments?.some((a) => a.value.kind !== Kind.STRING))) {
    throw problem.badRequest('the operation takes MLflow’s @component directive only, with a literal name');
  }
  return operation;
}

/** The operation's fields, each asked once, checked for what the BFF does not let through anywhere in the document. */
function rootFields(operation: OperationDefinitionNode): FieldNode[] {
  const fields = plainFields(operation.selectionSet, 1);
  const names = fields.map((f) => f.name.value);
  if (new Set(names).size !== names.length) throw problem.badRequest('each GraphQL field is asked once');
  return fields;
}

function plainFields(set: SelectionSetNode, depth: number): FieldNode[] {
  if (depth > MAX_DEPTH) throw problem.badRequest(`a GraphQL document is at most ${MAX_DEPTH} levels deep`);
  return set.selections.map((s) => {
    if (s.kind !== Kind.FIELD) throw problem.badRequest('GraphQL fragments are not forwarded');
    if (s.alias) throw problem.badRequest('GraphQL aliases are not forwarded');
    if ((s.directives ?? []).length > 0) throw problem.badRequest('GraphQL field directives are not forwarded');
    if (s.selectionSet) plainFields(s.selectionSet, depth + 1);
    return s;
  });
}
