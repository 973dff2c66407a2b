import { Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { normalisePath } from '../config/request-path';
import type { Principal } from '../auth/principal';
import { problem, ProblemException } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import { bodyStream, originalContentType } from './mlflow-body';
import { MlflowDatasetDecider } from './mlflow-datasets';
import { MlflowDenials } from './mlflow-denials';
import type { RestCall, RestDecision } from './mlflow-call';
import { EXPERIMENT_ID, matchRestEndpoint, type BffAnswer, MLFLOW_USER_TAG, MODEL_ID, needOf, paramsInQuery, RUN_ID } from './mlflow-endpoints';
import { decideMessage, decideQuery, toQuery, type Decided } from './mlflow-fields';
import type { Forward } from './mlflow-forwarder';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowGraphqlDecider } from './mlflow-graphql';
import { MlflowRegistryDecider } from './mlflow-registry';
import { MlflowScorerDecider } from './mlflow-scorers';
import { MlflowTraceDecider } from './mlflow-traces';
import { pagedSearch } from './mlflow-search';
import type { Target } from './mlflow-target';
import { MlflowClient, PayloadTooLarge, readAll } from './mlflow.client';
import { parseStrictJson } from './strict-json';

export type { RestDecision } from './mlflow-call';

/** REST bodies the BFF reads to decide (MLflow itself caps log-batch at about 1 MB). */
const MAX_JSON_REQUEST = 2 * 1024 * 1024;

/**
 * The REST decisions: the endpoint table's row, the request read into the row's fields (both
 * spellings, duplicates and unknown fields refused: mlflow-fields.ts), the permission the row needs
 * on the experiment those fields name, and the request MLflow gets rebuilt from those fields alone.
 * A HEAD is decided as the GET it mirrors, and a protobuf request is sent to MLflow as that GET
 * (MLflow reads its parameters from the query only on GET); the client gets the answer's headers.
 */
@Injectable()
export class MlflowRestDecider {
  private readonly log = new Logger('MlflowProxy');

  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
    private readonly client: MlflowClient,
    private readonly registry: MlflowRegistryDecider,
    private readonly graphql: MlflowGraphqlDecider,
    private readonly traces: MlflowTraceDecider,
    private readonly scorers: MlflowScorerDecider,
    private readonly datasets: MlflowDatasetDecider,
  ) {}

  async decide(req: FastifyRequest, target: Target, principal: Principal, method: string): Promise<RestDecision> {
    const endpoint = matchRestEndpoint(target.path);
    if (!endpoint) throw this.denials.denied(principal, target, 'unknown_endpoint', `${target.path} is not an MLflow endpoint the BFF exposes`);
    if (!endpoint.methods.includes(method)) throw new ProblemException(405, 'method_not_allowed', `${endpoint.name} takes ${endpoint.methods.join(', ')}`);
    const username = principal.username;
    if (!username) throw this.denials.denied(principal, target, 'no_username', 'the token has no preferred_username: MLflow permissions are per user');
    const rule = endpoint.rule;
    const inQuery = paramsInQuery(method, rule);
    const spelling = endpoint.spelling ?? 'proto';
    if (!inQuery && target.query !== '') throw problem.badRequest(`MLflow reads a ${method} request from its body: the query must be empty`);
    if (rule.op === 'graphql') return this.graphql.decide(principal, target, await this.jsonBody(req));
    const fields = endpoint.methodFields?.[method] ?? endpoint.fields;
    const p: Decided = inQuery ? decideQuery(target.query, fields, spelling) : decideMessage(await this.jsonBody(req), fields, spelling);
    // MLflow reads a protobuf request's parameters from the query on GET only (a HEAD would be read from its body).
    const upstreamMethod = method === 'HEAD' && rule.op !== 'artifact' && spelling === 'proto' ? 'GET' : method;
    const send = (extra: Partial<Forward> = {}): { forward: Forward } => ({
      forward: inQuery
        ? { method: upstreamMethod, query: toQuery(p), ...extra }
        : { method: upstreamMethod, query: '', body: Buffer.from(JSON.stringify(p)), contentType: 'application/json', ...extra },
    });
    const text = (name: string): string | undefined => {
      const v = p[name];
      return v === undefined || v === '' ? undefined : (v as string);
    };
    const call: RestCall = { principal, username, target, method, endpoint, p, inQuery, upstreamMethod, send, text };

    switch (rule.op) {
      case 'experiment':
        await this.require(principal, target, experimentIdOf(text('experiment_id')), rule.need);
        return send();

      case 'run': {
        const runId = runIdOf(text('run_id'), text('run_uuid'));
        delete p.run_uuid;
        p.run_id = runId;
        const runExperiment = await this.requireRun(principal, target, runId, rule.need);
        // Logged models named beside the run (runs/outputs, log-batch metrics) must be of the run's experiment.
        const models = [...((p.models ?? []) as Array<{ model_id?: string }>), ...((p.metrics ?? []) as Array<{ model_id?: string }>)];
        for (const modelId of new Set(models.map((m) => m.model_id).filter((id): id is string => id !== undefined && id !== ''))) {
          if ((await this.modelExperiment(modelId)) !== runExperiment) throw problem.badRequest(`logged model ${modelId} is not a model of the run's experiment`);
        }
        if (rule.identity === 'delete-tag' && p.key === MLFLOW_USER_TAG) {
          throw this.denials.denied(principal, target, 'identity_tag', `${MLFLOW_USER_TAG} is set by the BFF and cannot be deleted`);
        }
        if (rule.identity === 'set-tag' && p.key === MLFLOW_USER_TAG) {
          if (p.value !== username) this.denials.identityReplaced(principal, target);
          p.value = username;
        }
        if (rule.identity === 'log-batch') {
          const metrics = (p.metrics ?? []) as Array<{ run_id?: string }>;
          if (metrics.some((m) => m.run_id !== undefined && m.run_id !== runId)) throw problem.badRequest('metrics[].run_id must be the run of the request');
          if (p.tags !== undefined) p.tags = this.callerTags(p.tags, username, principal, target, false);
        }
        return send();
      }

      case 'runs': {
        const ids = (p[rule.param] ?? []) as string[];
        if (ids.length === 0) throw problem.badRequest(`${rule.param} is required`);
        for (const runId of new Set(ids)) await this.requireRun(principal, target, runIdOf(runId, undefined), rule.need);
        return send();
      }

      case 'create-experiment':
        return send({
          inspect: async (answer) => {
            const id = answer.experiment_id;
            if (typeof id === 'string' && EXPERIMENT_ID.test(id)) {
              await this.permissions.setGrant(id, username, 'MANAGE', username);
              this.log.log({ event: 'mlflow.experiment_created', experiment: id, username });
            }
            return undefined;
          },
        });

      case 'create-run': {
        // MLflow puts a run without experiment_id into the Default experiment ("0"): say so, and check that.
        const experimentId = experimentIdOf(text('experiment_id') ?? '0');
        await this.require(principal, target, experimentId, 'EDIT');
        p.experiment_id = experimentId;
        if (p.user_id !== undefined && p.user_id !== username) this.denials.identityReplaced(principal, target);
        p.user_id = username;
        p.tags = this.callerTags(p.tags, username, principal, target, true);
        return send({
          inspect: async (answer) => {
            // The run's experiment as MLflow answered it, never as the request named it.
            const info = (answer.run as { info?: { run_id?: unknown; experiment_id?: unknown } } | undefined)?.info;
            const runId = info?.run_id;
            const createdIn = info?.experiment_id;
            if (typeof runId === 'string' && RUN_ID.test(runId) && typeof createdIn === 'string' && EXPERIMENT_ID.test(createdIn)) {
              await this.permissions.rememberRun(runId, createdIn);
            }
            return undefined;
          },
        });
      }

      case 'get-by-name':
        if (!text('experiment_name')) throw problem.badRequest('experiment_name is required');
        return send({
          inspect: async (answer) => {
            const id = (answer.experiment as { experiment_id?: unknown } | undefined)?.experiment_id;
            if (typeof id !== 'string' || !(await this.permissions.can(principal, id, 'READ'))) {
              throw this.denials.denied(principal, target, 'permission', 'READ on this experiment is needed');
            }
            return undefined;
          },
        });

      case 'search-experiments':
        return pagedSearch(this.client, call, 'experiments', async (items) => {
          const ids = (items as Array<{ experiment_id?: unknown }>).map((e) => String(e.experiment_id));
          const readable = await this.permissions.readable(principal, ids);
          return ids.map((id) => readable.has(id));
        });

      case 'search-runs':
        return this.searchReadable(call, 'runs');

      case 'model': {
        const modelId = endpoint.params?.model_id ?? '';
        if (!MODEL_ID.test(modelId)) throw problem.badRequest('the logged model id is malformed');
        // Where MLflow reads model_id from the body too (finalize, params), it is the path's.
        if (p.model_id !== undefined && p.model_id !== modelId) throw problem.badRequest('model_id must be the logged model of the path');
        if (!inQuery && 'model_id' in fields) p.model_id = modelId;
        const experimentId = await this.modelExperiment(modelId);
        await this.require(principal, target, experimentId, needOf(rule.need, method));
        return send();
      }

      case 'create-model': {
        const experimentId = experimentIdOf(text('experiment_id'));
        await this.require(principal, target, experimentId, 'EDIT');
        const sourceRun = text('source_run_id');
        if (sourceRun !== undefined && (await this.requireRun(principal, target, runIdOf(sourceRun, undefined), 'EDIT')) !== experimentId) {
          throw problem.badRequest('source_run_id must be a run of the experiment');
        }
        return send({
          inspect: async (answer) => {
            const info = (answer.model as { info?: { model_id?: unknown; experiment_id?: unknown } } | undefined)?.info;
            if (
              typeof info?.model_id === 'string' &&
              MODEL_ID.test(info.model_id) &&
              typeof info.experiment_id === 'string' &&
              EXPERIMENT_ID.test(info.experiment_id)
            ) {
              await this.permissions.rememberModel(info.model_id, info.experiment_id);
            }
            return undefined;
          },
        });
      }

      case 'search-models':
        return this.searchReadable(call, 'models');

      case 'registered-model':
      case 'create-registered-model':
      case 'create-model-version':
      case 'search-registered-models':
      case 'search-model-versions':
        return this.registry.decide(call, rule);

      case 'authenticated':
        return send();

      case 'trace':
      case 'traces':
      case 'start-trace':
      case 'search-traces':
      case 'trace-metrics':
        return this.traces.decide(call, rule);

      case 'register-scorer':
      case 'list-scorers':
      case 'scorer':
      case 'scorer-configs':
      case 'admin':
        return this.scorers.decide(call, rule);

      case 'answer':
        return { answer: this.answerOf(rule.answer, principal, username) };

      case 'search-datasets':
        // Runs' dataset summaries name one experiment each; evaluation datasets are looked up one by one.
        if (endpoint.name.startsWith('3.0/')) return this.datasets.search(call);
        return this.searchReadable(call, 'dataset_summaries', (item) => String((item as { experiment_id?: unknown }).experiment_id));

      case 'dataset':
      case 'create-dataset':
        return this.datasets.decide(call, rule);

      case 'artifact-list':
      case 'artifact': {
        const artifactPath = rule.op === 'artifact' ? endpoint.rest : text('path') === undefined ? undefined : normalisePath(text('path')!)?.slice(1);
        // An artifact row's path below it is never empty (matchRestEndpoint): only a listing can name none.
        if (artifactPath === undefined) throw problem.badRequest('path is required (an experiment id first)');
        const experimentId = artifactPath.split('/')[0];
        if (!EXPERIMENT_ID.test(experimentId)) throw this.denials.denied(principal, target, 'artifact_path', 'artifact paths start with the experiment id');
        const need: MlflowPermissionLevel = rule.op === 'artifact' ? needOf(rule.need, method) : 'READ';
        await this.require(principal, target, experimentId, need);
        return rule.op === 'artifact' ? { forward: { method, query: toQuery(p), body: bodyStream(req), contentType: originalContentType(req) } } : send();
      }
    }
  }

  // --- decisions ---

  /**
   * A search over `experiment_ids` (runs, logged models): MLflow is asked only about the experiments the
   * caller may read, and only their items come back, pages refilled. Nothing readable: MLflow's answer
   * for no results, without asking MLflow.
   */
  private async searchReadable(
    call: RestCall,
    list: string,
    experimentOf: (item: unknown) => string = (item) => String((item as { info?: { experiment_id?: unknown } }).info?.experiment_id),
  ): Promise<RestDecision> {
    const requested = (call.p.experiment_ids ?? []) as string[];
    if (requested.some((id) => !EXPERIMENT_ID.test(id))) throw problem.badRequest('experiment_ids must be a list of numeric experiment ids');
    const readable = await this.permissions.readable(call.principal, requested);
    const allowed = requested.filter((id) => readable.has(id));
    if (allowed.length === 0) return { answer: {} };
    call.p.experiment_ids = allowed;
    const visible = async (items: unknown[]) => items.map((item) => readable.has(experimentOf(item)));
    // Searches without pages (search-datasets) are filtered the same way: no next token, nothing to refill.
    return pagedSearch(this.client, call, list, visible);
  }

  /** What the BFF answers itself: MLflow's shapes, nothing forwarded. */
  private answerOf(answer: BffAnswer, principal: Principal, username: string): Record<string, unknown> {
    switch (answer) {
      case 'current-user':
        // is_basic_auth false: the UI then offers no basic-auth logout or password change (the BFF's login is OIDC).
        return { user: { id: principal.subject, username, is_admin: this.permissions.groupDefault(principal) === 'MANAGE' }, is_basic_auth: false };
      case 'gateway-proxy':
        return { endpoints: [] };
      case 'assistant-config':
        return { providers: {}, projects: {}, remote_access_allowed: false };
      case 'assistant-providers':
        return { providers: [], resolved: null, gateway_vendor_options: {} };
    }
  }

  private async require(principal: Principal, target: Target, experimentId: string, need: MlflowPermissionLevel): Promise<void> {
    if (!(await this.permissions.can(principal, experimentId, need))) {
      throw this.denials.denied(principal, target, 'permission', `${need} on experiment ${experimentId} is needed`);
    }
  }

  /** The run's experiment, once the caller is known to have `need` on it. */
  private async requireRun(principal: Principal, target: Target, runId: string, need: MlflowPermissionLevel): Promise<string> {
    const experimentId = await this.permissions.experimentOfRun(runId);
    if (experimentId === undefined) throw problem.notFound(`no run ${runId}`);
    await this.require(principal, target, experimentId, need);
    return experimentId;
  }

  private async modelExperiment(modelId: string): Promise<string> {
    if (!MODEL_ID.test(modelId)) throw problem.badRequest('the logged model id is malformed');
    const experimentId = await this.permissions.experimentOfModel(modelId);
    if (experimentId === undefined) throw problem.notFound(`no logged model ${modelId}`);
    return experimentId;
  }

  /** The run's tags with mlflow.user = the caller (a client-sent value replaced; added when `add`). */
  private callerTags(tags: unknown, username: string, principal: Principal, target: Target, add: boolean): Array<{ key?: unknown; value?: unknown }> {
    const list = (tags ?? []) as Array<{ key?: unknown; value?: unknown }>;
    const spoofed = list.filter((t) => t.key === MLFLOW_USER_TAG);
    if (spoofed.some((t) => t.value !== username)) this.denials.identityReplaced(principal, target);
    const kept = list.filter((t) => t.key !== MLFLOW_USER_TAG);
    return add || spoofed.length > 0 ? [...kept, { key: MLFLOW_USER_TAG, value: username }] : kept;
  }

  private async jsonBody(req: FastifyRequest): Promise<Record<string, unknown>> {
    const stream = bodyStream(req);
    let text = '';
    if (stream) {
      try {
        text = (await readAll(stream, MAX_JSON_REQUEST)).toString('utf8');
      } catch (err) {
        if (err instanceof PayloadTooLarge) throw new ProblemException(413, 'payload_too_large', `MLflow REST bodies are limited to ${MAX_JSON_REQUEST} bytes`);
        throw problem.badRequest('the request body could not be read');
      }
    }
    if (text.trim() === '') return {};
    const parsed = parseStrictJson(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw problem.badRequest('the request body must be a JSON object');
    return parsed as Record<string, unknown>;
  }
}

function experimentIdOf(id: string | undefined): string {
  if (id === undefined) throw problem.badRequest('experiment_id is required');
  if (!EXPERIMENT_ID.test(id)) throw problem.badRequest('experiment_id must be a numeric experiment id');
  return id;
}

function runIdOf(runId: string | undefined, runUuid: string | undefined): string {
  if (runId !== undefined && runUuid !== undefined && runId !== runUuid) throw problem.badRequest('run_id and run_uuid name different runs');
  const id = runId ?? runUuid;
  if (id === undefined) throw problem.badRequest('run_id is required');
  if (!RUN_ID.test(id)) throw problem.badRequest('run_id is malformed');
  return id;
}
