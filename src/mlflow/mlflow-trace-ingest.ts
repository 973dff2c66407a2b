import type { OutgoingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { bodyStream, originalContentType } from './mlflow-body';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID, RUN_ID } from './mlflow-endpoints';
import type { Forward } from './mlflow-forwarder';
import { decodeOtlpTraces, decompress, OTLP_MAX_BYTES, type OtlpMedia } from './mlflow-otlp';
import { MlflowPermissionService } from './mlflow-permission.service';
import type { Target } from './mlflow-target';
import { PayloadTooLarge, readAll } from './mlflow.client';

/** Trace lookups in MLflow at once, for an export naming many traces. */
const LOOKUPS_AT_ONCE = 8;

/**
 * OTLP traces on /v1/traces (the OpenTelemetry Collector, MLflow's Python client logging
 * `@mlflow.trace` spans), decided as MLflow's auth app decides them and on what MLflow would do
 * with the spans: EDIT on the experiment of X-Mlflow-Experiment-Id (a service account only when
 * listed in MLFLOW_TRACE_CLIENTS), X-Mlflow-Run-Id a run of that experiment, and every span's trace:
 * a trace id MLflow does not know is a new trace, made in that experiment; one it knows gets the
 * spans appended whatever the header says, so its experiment needs EDIT too. MLflow gets the
 * request the BFF decoded (mlflow-otlp.ts), re-encoded as protobuf, and only the headers decided.
 */
@Injectable()
export class MlflowTraceIngest {
  private readonly traceClients: ReadonlySet<string>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
  ) {
    this.traceClients = new Set(config.mlflow.traceClients);
  }

  async decide(req: FastifyRequest, target: Target, principal: Principal, method: string): Promise<Forward> {
    if (method !== 'POST') throw new ProblemException(405, 'method_not_allowed', 'OTLP traces are POSTed');
    const client = principal.clientId;
    const serviceAccount = client !== undefined && principal.username?.toLowerCase() === `service-account-${client}`.toLowerCase();
    if (serviceAccount && !this.traceClients.has(client)) {
      throw this.denials.denied(principal, target, 'trace_client', 'service accounts send traces only when listed in MLFLOW_TRACE_CLIENTS');
    }
    const experimentId = singleHeader(req, 'x-mlflow-experiment-id');
    if (experimentId === undefined || !EXPERIMENT_ID.test(experimentId)) throw problem.badRequest('X-Mlflow-Experiment-Id must name one experiment (a numeric id)');
    const media = originalContentType(req)?.split(';')[0].trim().toLowerCase();
    if (media !== 'application/x-protobuf' && media !== 'application/json') throw problem.badRequest('OTLP traces are application/x-protobuf or application/json');
    const encoding = singleHeader(req, 'content-encoding')?.toLowerCase();
    if (encoding !== undefined && encoding !== 'gzip' && encoding !== 'deflate' && encoding !== 'identity') {
      throw problem.badRequest('OTLP traces are sent uncompressed, gzip or deflate');
    }
    await this.require(principal, target, experimentId);
    const headers: OutgoingHttpHeaders = { 'x-mlflow-experiment-id': experimentId };
    const runId = singleHeader(req, 'x-mlflow-run-id');
    if (runId !== undefined) {
      if (!RUN_ID.test(runId) || (await this.permissions.experimentOfRun(runId)) !== experimentId) {
        throw problem.badRequest('X-Mlflow-Run-Id must be a run of the experiment of X-Mlflow-Experiment-Id');
      }
      headers['x-mlflow-run-id'] = runId;
    }
    const decided = decodeOtlpTraces(decompress(await this.body(req), encoding), media as OtlpMedia);
    // Each trace MLflow already knows, in the experiment it is in.
    const elsewhere = new Set<string>();
    for (let i = 0; i < decided.traceIds.length; i += LOOKUPS_AT_ONCE) {
      const found = await Promise.all(decided.traceIds.slice(i, i + LOOKUPS_AT_ONCE).map((id) => this.permissions.experimentOfTrace(id)));
      for (const id of found) if (id !== undefined && id !== experimentId) elsewhere.add(id);
    }
    for (const id of elsewhere) await this.require(principal, target, id, `spans of a trace of experiment ${id}: EDIT on it is needed`);
    return { method, query: '', body: decided.body, contentType: 'application/x-protobuf', headers };
  }

  private async require(principal: Principal, target: Target, experimentId: string, why = `EDIT on experiment ${experimentId} is needed`): Promise<void> {
    if (!(await this.permissions.can(principal, experimentId, 'EDIT'))) throw this.denials.denied(principal, target, 'permission', why);
  }

  private async body(req: FastifyRequest): Promise<Buffer> {
    const stream = bodyStream(req);
    if (!stream) throw problem.badRequest('the OTLP request has no body');
    try {
      return await readAll(stream, OTLP_MAX_BYTES);
    } catch (err) {
      if (err instanceof PayloadTooLarge) throw new ProblemException(413, 'payload_too_large', `OTLP bodies are limited to ${OTLP_MAX_BYTES} bytes`);
      throw problem.badRequest('the request body could not be read');
    }
  }
}

/** A header given once (trimmed), undefined when absent; given twice is refused. */
function singleHeader(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw problem.badRequest(`${name} must be given once`);
  return value.trim();
}
