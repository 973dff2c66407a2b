import { Logger } from '@nestjs/common';
import { parse, print, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { UI_GRAPHQL, uiGraphql } from '../../test/support/mlflow-graphql';
import { principalFromClaims, type Principal } from '../auth/principal';
import type { MetricsService } from '../common/metrics.service';
import { ProblemException } from '../common/problem';
import { ReadinessRegistry } from '../common/readiness.registry';
import { loadConfig } from '../config/load-config';
import { StateStore } from '../state/state-store';
import { ValkeyClient } from '../state/valkey-client';
import { MlflowDenials } from './mlflow-denials';
import type { Forward } from './mlflow-forwarder';
import { MlflowGraphqlDecider } from './mlflow-graphql';
import { MlflowPermissionService } from './mlflow-permission.service';
import type { MlflowClient } from './mlflow.client';

const BASE_ENV = { NODE_ENV: 'test', KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's' };
const target = { path: '/graphql', upstreamPath: '/graphql', query: '', route: 'POST /mlflow/graphql' };
/** Experiment 7 (run-of-7, model m-of-7) is the reader's; experiment 8 (run-of-8, m-of-8) is not. */
const RUNS: Record<string, string> = { 'run-of-7': '7', 'run-of-8': '8' };
const MODELS: Record<string, string> = { 'm-of-7': '7', 'm-of-8': '8' };

let decider: MlflowGraphqlDecider;
let reader: Principal;
let stranger: Principal;

const user = (name: string) => principalFromClaims({ sub: `sub-${name}`, preferred_username: name, iss: 'https://idp.test', exp: 9e9 }, 'platform-bff');

beforeAll(async () => {
  const config = loadConfig(BASE_ENV);
  const client = {
    experimentOfRun: async (run: string) => RUNS[run],
    experimentOfModel: async (model: string) => MODELS[model],
  } as unknown as MlflowClient;
  const permissions = new MlflowPermissionService(config, new StateStore(config, new ValkeyClient(config, new ReadinessRegistry())), client);
  const metrics = { counter: () => ({ inc: () => undefined }) } as unknown as MetricsService;
  decider = new MlflowGraphqlDecider(permissions, new MlflowDenials(metrics));
  reader = user('reader');
  stranger = user('stranger');
  await permissions.setGrant('7', 'reader', 'READ', 'owner');
  await permissions.setGrant('visible-model', 'reader', 'READ', 'owner', 'registered-model');
});
beforeEach(() => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined));
afterEach(() => jest.restoreAllMocks());

/** What MLflow would get (the rebuilt body), or the refusal as `status reason: detail`. */
async function decide(body: Record<string, unknown>, who: Principal = reader): Promise<{ forward?: Forward; sent?: Record<string, unknown>; refused?: string }> {
  try {
    const decision = await decider.decide(who, target, body);
    if (!('forward' in decision)) throw new Error('the GraphQL decider answered itself');
    return { forward: decision.forward, sent: JSON.parse(String(decision.forward.body)) as Record<string, unknown> };
  } catch (err) {
    if (!(err instanceof ProblemException)) throw err;
    return { refused: `${err.getStatus()} ${err.reason}: ${err.detail}` };
  }
}
const refusal = async (body: Record<string, unknown>, who?: Principal) => (await decide(body, who)).refused?.split(':')[0];

describe('MlflowGraphqlDecider: POST /graphql decided per field and argument', () => {
  it('forwards each of the UI’s documents to a reader of the experiment and refuses them to a user without a grant', async () => {
    const bodies = [
      uiGraphql('MlflowGetExperimentQuery', { input: { experimentId: '7' } }),
      uiGraphql('GetRun', { data: { runId: 'run-of-7' } }),
      uiGraphql('SearchRuns', { data: { experimentIds: ['7'], filter: "attributes.run_id = 'run-of-7'" } }),
      uiGraphql('GetMetricHistoryBulkInterval', { data: { runIds: ['run-of-7'], metricKey: 'loss', startStep: null, endStep: null, maxResults: 320 } }),
    ];
    const outcomes = [];
    for (const body of bodies) outcomes.push([(await decide(body)).refused ?? 'forwarded', await refusal(body, stranger)]);
    expect(outcomes).toEqual(bodies.map(() => ['forwarded', '403 insufficient_role']));
  });

  it('forwards a document it printed from what it decided, and the decided inputs as its own variables', async () => {
    const { sent } = await decide({ ...uiGraphql('GetRun', { data: { runUuid: 'run-of-7' }, unused: 'x' }) });
    expect(sent!.variables).toEqual({ input0: { runId: 'run-of-7' } });
    expect(sent!.operationName).toBe('GetRun');
    const printed = parse(sent!.query as string);
    const original = parse(UI_GRAPHQL.GetRun, { noLocation: true });
    // The same operation and selections, its input now the BFF's variable.
    expect(sent!.query).toContain('query GetRun($input0: MlflowGetRunInput) @component(name: "MLflow.ExperimentRunTracking")');
    expect(sent!.query).toContain('mlflowGetRun(input: $input0)');
    const selections = (d: DocumentNode) => print((d.definitions[0] as OperationDefinitionNode).selectionSet);
    expect(selections(printed).replace('(input: $input0)', '(input: $data)')).toBe(selections(original));
    // An inline input is rebuilt the same way.
    const inline = await decide({ query: '{ mlflowGetExperiment(input: {experimentId: "7"}) { experiment { name } } }' });
    expect(inline.sent).toEqual({ query: expect.stringContaining('mlflowGetExperiment(input: $input0)'), variables: { input0: { experimentId: '7' } } });
  });

  it('narrows a runs search to the experiments the caller may read, and refuses it when none is left', async () => {
    const { sent } = await decide(uiGraphql('SearchRuns', { data: { experimentIds: ['8', '7', '7'], maxResults: 5 } }));
    expect(sent!.variables).toEqual({ input0: { experimentIds: ['7'], maxResults: 5 } });
    expect(await refusal(uiGraphql('SearchRuns', { data: { experimentIds: ['8'] } }))).toBe('403 insufficient_role');
  });

  it('refuses a metric history that names one run the caller may not read among others', async () => {
    expect(await refusal(uiGraphql('GetMetricHistoryBulkInterval', { data: { runIds: ['run-of-7', 'run-of-8'], metricKey: 'loss' } }))).toBe(
      '403 insufficient_role',
    );
    expect(await refusal({ query: '{ mlflowListArtifacts(input: {runId: "run-of-8"}) { files { path } } }' })).toBe('403 insufficient_role');
    expect(await refusal({ query: '{ mlflowGetRun(input: {runId: "no-such-run"}) { run { info { runId } } } }' })).toBe('404 not_found');
  });

  it.each([
    ['introspection', { query: '{ __schema { types { name } } }' }, '403 insufficient_role'],
    ['a type lookup', { query: '{ __type(name: "MlflowRun") { name } }' }, '403 insufficient_role'],
    ['a field MLflow has but the BFF does not expose', { query: '{ test(inputString: "x") { output } }' }, '403 insufficient_role'],
    [
      'the model versions search (REST serves it, filtered)',
      { query: '{ mlflowSearchModelVersions(input: {filter: ""}) { modelVersions { name } } }' },
      '403 insufficient_role',
    ],
    ['a mutation', { query: 'mutation { mlflowSearchRuns(input: {experimentIds: ["7"]}) { runs { info { runId } } } }' }, '403 insufficient_role'],
    ['a field MLflow does not have', { query: '{ mlflowDeleteRun(input: {runId: "run-of-7"}) { ok } }' }, '400 validation_failed'],
    ['aliases that multiply a field', { query: '{ a: mlflowGetExperiment(input: {experimentId: "7"}) { experiment { name } } }' }, '400 validation_failed'],
    [
      'a field asked twice',
      {
        query: '{ mlflowGetExperiment(input: {experimentId: "7"}) { experiment { name } } mlflowGetExperiment(input: {experimentId: "7"}) { experiment { name } } }',
      },
      '400 validation_failed',
    ],
    [
      'two operations',
      {
        query:
          'query A { mlflowGetExperiment(input: {experimentId: "7"}) { apiError { code } } } query B { mlflowGetExperiment(input: {experimentId: "8"}) { apiError { code } } }',
        operationName: 'A',
      },
      '400 validation_failed',
    ],
    [
      'a fragment',
      { query: '{ mlflowGetExperiment(input: {experimentId: "7"}) { ...E } } fragment E on MlflowGetExperimentResponse { experiment { name } }' },
      '400 validation_failed',
    ],
    [
      'an inline fragment',
      { query: '{ mlflowGetExperiment(input: {experimentId: "7"}) { ... on MlflowGetExperimentResponse { experiment { name } } } }' },
      '400 validation_failed',
    ],
    ['a variable of the wrong type', { ...uiGraphql('GetRun', { data: { runId: 7 } }) }, '400 validation_failed'],
    ['an input field MLflow does not have', { ...uiGraphql('GetRun', { data: { runId: 'run-of-7', experimentId: '8' } }) }, '400 validation_failed'],
    ['a missing variable', { query: UI_GRAPHQL.GetRun }, '400 validation_failed'],
    ['a malformed experiment id', { query: '{ mlflowGetExperiment(input: {experimentId: "7 OR 1=1"}) { experiment { name } } }' }, '400 validation_failed'],
    ['a syntax error', { query: '{ mlflowGetExperiment(' }, '400 validation_failed'],
    ['a body key MLflow does not read', { ...uiGraphql('GetRun', { data: { runId: 'run-of-7' } }), extensions: {} }, '400 validation_failed'],
    ['an operationName that is not the operation', { ...uiGraphql('GetRun', { data: { runId: 'run-of-7' } }), operationName: 'Other' }, '400 validation_failed'],
    ['a field directive', { query: '{ mlflowGetExperiment(input: {experimentId: "7"}) @include(if: true) { experiment { name } } }' }, '400 validation_failed'],
  ])('refuses %s', async (_, body, expected) => {
    expect(await refusal(body as Record<string, unknown>)).toBe(expected);
  });

  it('leaves out of a run what names a registered model or a logged model the caller may not read', async () => {
    const { forward } = await decide(uiGraphql('GetRun', { data: { runId: 'run-of-7' } }));
    const run = () => ({
      info: { runId: 'run-of-7', experimentId: '7' },
      modelVersions: [
        { name: 'visible-model', version: '1' },
        { name: 'hidden-model', version: '1' },
      ],
      inputs: { datasetInputs: [], modelInputs: [{ modelId: 'm-of-7' }, { modelId: 'm-of-8' }, { modelId: 'm-unknown' }] },
      outputs: {
        modelOutputs: [
          { modelId: 'm-of-8', step: '0' },
          { modelId: 'm-of-7', step: '1' },
        ],
      },
    });
    const shown = (await forward!.inspect!({ data: { mlflowGetRun: { run: run(), apiError: null } }, errors: null })) as Record<string, unknown>;
    expect(JSON.stringify(shown)).not.toMatch(/hidden-model|m-of-8|m-unknown/);
    expect(shown).toEqual({
      data: {
        mlflowGetRun: {
          run: {
            ...run(),
            modelVersions: [{ name: 'visible-model', version: '1' }],
            inputs: { datasetInputs: [], modelInputs: [{ modelId: 'm-of-7' }] },
            outputs: { modelOutputs: [{ modelId: 'm-of-7', step: '1' }] },
          },
          apiError: null,
        },
      },
      errors: null,
    });
    const searched = (await forward!.inspect!({ data: { mlflowSearchRuns: { runs: [run(), run()] } } })) as Record<string, unknown>;
    expect(JSON.stringify(searched)).not.toMatch(/hidden-model|m-of-8/);
  });
});
