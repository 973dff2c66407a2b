import { Injectable } from '@nestjs/common';
import { problem } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import type { RestCall, RestDecision } from './mlflow-call';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID, MODEL_ID, needOf, RUN_ID, TRACE_ID, type RestRule } from './mlflow-endpoints';
import { MlflowPermissionService } from './mlflow-permission.service';
import { pagedSearch } from './mlflow-search';
import { MlflowClient } from './mlflow.client';

type TraceRule = Extract<RestRule, { op: 'trace' | 'traces' | 'start-trace' | 'search-traces' | 'trace-metrics' }>;

interface TraceLocation {
  mlflow_experiment?: { experiment_id?: string };
}

interface TraceInfo {
  trace_id?: string;
  trace_location?: TraceLocation;
  trace_metadata?: Record<string, string>;
}

/** Trace metadata MLflow links a trace by: the run and the logged model it was made in. */
const SOURCE_RUN = 'mlflow.sourceRun';
const MODEL = 'mlflow.modelId';

/**
 * MLflow 3's traces and assessments (what `@mlflow.trace` and the UI's traces pages call), decided
 * on the experiment each trace belongs to — as MLflow's auth app decides them: READ to read, EDIT to
 * start a trace, tag it or assess it, MANAGE (on the experiment) to delete traces. A trace is looked
 * up in MLflow once and cached: through the BFF a trace never moves (MLflow itself moves a trace when
 * StartTraceV3 names its id with another experiment, which the BFF refuses).
 */
@Injectable()
export class MlflowTraceDecider {
  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
    private readonly client: MlflowClient,
  ) {}

  async decide(call: RestCall, rule: TraceRule): Promise<RestDecision> {
    const { p } = call;
    switch (rule.op) {
      case 'trace': {
        const params = call.endpoint.params ?? {};
        const traceId = params.trace_id ?? call.text('trace_id');
        if (traceId === undefined) throw problem.badRequest('trace_id is required');
        // Where MLflow reads the ids from the body too (tags, an assessment), they are the path's.
        const assessment = p.assessment as { trace_id?: string; assessment_id?: string } | undefined;
        for (const given of [p.trace_id, assessment?.trace_id]) {
          if (given !== undefined && given !== traceId) throw problem.badRequest('trace_id must be the trace of the path');
        }
        const assessmentId = params.assessment_id;
        for (const given of [p.assessment_id, assessment?.assessment_id]) {
          if (assessmentId !== undefined && given !== undefined && given !== assessmentId)
            throw problem.badRequest('assessment_id must be the assessment of the path');
        }
        const fields = call.endpoint.methodFields?.[call.method] ?? call.endpoint.fields;
        if (params.trace_id !== undefined && 'trace_id' in fields && !call.inQuery) p.trace_id = traceId;
        if (assessmentId !== undefined && 'assessment_id' in fields && !call.inQuery) p.assessment_id = assessmentId;
        if (assessment !== undefined) assessment.trace_id = traceId;
        await this.requireTrace(call, traceId, needOf(rule.need, call.method));
        return call.send();
      }

      case 'traces': {
        const ids = (p.trace_ids ?? []) as string[];
        if (ids.length === 0) throw problem.badRequest('trace_ids is required');
        await this.requireEach(call, (p.experiment_ids ?? []) as string[], 'READ');
        for (const id of new Set(ids)) await this.requireTrace(call, id, needOf(rule.need, call.method));
        return call.send();
      }

      case 'trace-metrics': {
        const ids = (p.experiment_ids ?? []) as string[];
        if (ids.length === 0) throw problem.badRequest('experiment_ids is required');
        await this.requireEach(call, ids, 'READ');
        return call.send();
      }

      case 'start-trace':
        await this.startTrace(call);
        return call.send();

      case 'search-traces': {
        const locations = (p.locations ?? []) as TraceLocation[];
        const requested = locations.map((l) => l.mlflow_experiment?.experiment_id ?? '');
        if (requested.length === 0 || requested.some((id) => !EXPERIMENT_ID.test(id))) {
          throw problem.badRequest('locations must name experiments (mlflow_experiment.experiment_id)');
        }
        const readable = await this.permissions.readable(call.principal, requested);
        const allowed = [...new Set(requested.filter((id) => readable.has(id)))];
        if (allowed.length === 0) return { answer: {} };
        p.locations = allowed.map((experiment_id) => ({ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id } }));
        return pagedSearch(this.client, call, 'traces', async (items) =>
          (items as Array<{ trace_location?: TraceLocation }>).map((t) => readable.has(String(t.trace_location?.mlflow_experiment?.experiment_id))),
        );
      }
    }
  }

  /**
   * StartTraceV3: EDIT on the trace's experiment. MLflow keeps a trace id it already knows in that
   * trace's experiment, so an id already used must be of the same experiment; the run and the logged
   * model its metadata links it to must be of that experiment too.
   */
  private async startTrace(call: RestCall): Promise<void> {
    const info = ((call.p.trace as { trace_info?: TraceInfo } | undefined) ?? {}).trace_info;
    const experimentId = info?.trace_location?.mlflow_experiment?.experiment_id;
    if (experimentId === undefined || !EXPERIMENT_ID.test(experimentId)) {
      throw problem.badRequest('trace.trace_info.trace_location.mlflow_experiment.experiment_id must name one experiment');
    }
    await this.require(call, experimentId, 'EDIT');
    const traceId = info?.trace_id;
    if (traceId !== undefined && traceId !== '') {
      if (!TRACE_ID.test(traceId)) throw problem.badRequest('trace_id is malformed');
      const existing = await this.permissions.experimentOfTrace(traceId);
      if (existing !== undefined && existing !== experimentId) {
        throw this.denials.denied(call.principal, call.target, 'permission', `trace ${traceId} is a trace of another experiment`);
      }
    }
    const runId = info?.trace_metadata?.[SOURCE_RUN];
    if (runId !== undefined && runId !== '' && (!RUN_ID.test(runId) || (await this.permissions.experimentOfRun(runId)) !== experimentId)) {
      throw problem.badRequest(`${SOURCE_RUN} must be a run of the trace's experiment`);
    }
    const modelId = info?.trace_metadata?.[MODEL];
    if (modelId !== undefined && modelId !== '' && (!MODEL_ID.test(modelId) || (await this.permissions.experimentOfModel(modelId)) !== experimentId)) {
      throw problem.badRequest(`${MODEL} must be a logged model of the trace's experiment`);
    }
  }

  private async requireTrace(call: RestCall, traceId: string, need: MlflowPermissionLevel): Promise<void> {
    if (!TRACE_ID.test(traceId)) throw problem.badRequest('trace_id is malformed');
    const experimentId = await this.permissions.experimentOfTrace(traceId);
    if (experimentId === undefined) throw problem.notFound(`no trace ${traceId}`);
    await this.require(call, experimentId, need);
  }

  private async requireEach(call: RestCall, experimentIds: string[], need: MlflowPermissionLevel): Promise<void> {
    if (experimentIds.some((id) => !EXPERIMENT_ID.test(id))) throw problem.badRequest('experiment_ids must be a list of numeric experiment ids');
    for (const id of new Set(experimentIds)) await this.require(call, id, need);
  }

  private async require(call: RestCall, experimentId: string, need: MlflowPermissionLevel): Promise<void> {
    if (!(await this.permissions.can(call.principal, experimentId, need))) {
      throw this.denials.denied(call.principal, call.target, 'permission', `${need} on experiment ${experimentId} is needed`);
    }
  }
}
