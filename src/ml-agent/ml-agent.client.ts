import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { MetricsService } from '../common/metrics.service';
import { ProblemException, problem, type ProblemBody } from '../common/problem';
import { MAX_UPSTREAM_RESPONSE_BYTES, UpstreamTransport, type UpstreamAnswer } from '../common/upstream-transport';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { TrinoCatalogsDto, TrinoSchemasDto, TrinoTablesDto } from './dto/trino-listing.dto';
import type { WorkflowRunAnswer } from './dto/run-workflow.dto';
import type { WorkflowSubmitter } from './workflow-submitter';

const UPSTREAM = 'ML-Agent';
/** Injection token of the longest wait for one ML-Agent answer (headers and body), in ms. */
export const ML_AGENT_TIMEOUT_MS = Symbol('ML_AGENT_TIMEOUT_MS');
/** Longest `detail` of an ML-Agent refusal copied into the problem's own `detail`. */
const DETAIL_LIMIT = 500;
/** The most of an answer to a workflow run the BFF reads and passes through. */
export const MAX_WORKFLOW_ANSWER_BYTES = 1024 * 1024;
/** Longest non-JSON error body passed through in `upstreamBody`. */
const TEXT_BODY_LIMIT = 16 * 1024;

/** How one call to ML-Agent is made: the credential it carries, and the request id it is traced by. */
export interface MlAgentCall {
  /**
   * The bearer token ML-Agent gets: the caller's token exchanged for ML-Agent's audience, or the raw token in
   * ML_AGENT_TOKEN_MODE=forward. Resolved by the client as it sends (after validation and the configuration
   * check: a refused request costs no exchange). Never logged.
   */
  credential: { get(): Promise<string> };
  requestId: string;
}

/**
 * POST /run-workflow-trino as ML-Agent takes it: the validated request plus the submitter of the
 * verified token: `email` for a user, `submittedBy: {type: 'service_account', clientId}` for a
 * service account (a client-credentials token, which has no email).
 */
export type MlAgentWorkflowSubmission = {
  catalog: string;
  schema: string;
  table: string;
  workflow: string;
  parameters: Record<string, unknown>;
} & WorkflowSubmitter;

/**
 * A 4xx ML-Agent answered (other than 401): passed through with its status, as problem+json
 * (`not_found` for a 404, `upstream_error` otherwise) carrying ML-Agent's body verbatim in
 * `upstreamBody`; `detail` is ML-Agent's `detail` when that is a string. FastAPI validation
 * errors (`detail: [{loc, msg}]`) are also listed in `errors`.
 */
export class MlAgentRefusal extends ProblemException {
  constructor(
    status: number,
    readonly upstreamBody: unknown,
  ) {
    const { detail, errors } = describeRefusal(status, upstreamBody);
    super(status, status === 404 ? 'not_found' : 'upstream_error', detail, errors);
  }

  override body(instance?: string, requestId?: string): ProblemBody & { upstreamBody: unknown } {
    return { ...super.body(instance, requestId), upstreamBody: this.upstreamBody };
  }
}

/**
 * The one client of ML-Agent (ML_AGENT_URL): catalog browsing and workflow runs, each call
 * carrying the bearer token the service chose for it. Answers are checked for the shapes ML-Agent
 * documents. Errors: ML_AGENT_URL unset 503 upstream_unavailable; unreachable, 5xx, malformed or
 * unexpected answers 502; no answer within the timeout 504; ML-Agent's 401 (it did not accept the
 * token the BFF sent: a configuration fault, not the caller's) 502 upstream_error; other 4xx
 * passed through (MlAgentRefusal).
 */
@Injectable()
export class MlAgentClient implements OnApplicationShutdown {
  private readonly log = new Logger('MlAgentClient');
  private readonly baseUrl?: string;
  private readonly calls: Counter<'operation' | 'outcome'>;
  private readonly transport: UpstreamTransport;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(ML_AGENT_TIMEOUT_MS) timeoutMs: number, metrics: MetricsService) {
    this.baseUrl = config.mlAgent.url;
    this.transport = new UpstreamTransport({ name: UPSTREAM, headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs });
    this.calls = metrics.counter('bff_ml_agent_requests_total', 'Calls to ML-Agent by operation and outcome (ok, refused, failed, timeout)', [
      'operation',
      'outcome',
    ]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
  }

  /** 503 upstream_unavailable when ML_AGENT_URL is not set (checked before any token is exchanged for it). */
  assertConfigured(): void {
    if (!this.baseUrl) throw problem.unavailable('upstream_unavailable', 'ML-Agent is not configured (ML_AGENT_URL is not set)');
  }

  async listCatalogs(call: MlAgentCall): Promise<TrinoCatalogsDto> {
    return this.json(call, 'catalogs', 'GET', '/trino/catalogs', undefined, (v) => ({ catalogs: stringList(v, 'catalogs') }));
  }

  async listSchemas(call: MlAgentCall, catalog: string): Promise<TrinoSchemasDto> {
    const path = `/trino/schemas/${encodeURIComponent(catalog)}`;
    return this.json(call, 'schemas', 'GET', path, undefined, (v) => ({ schemas: stringList(v, 'schemas') }));
  }

  async listTables(call: MlAgentCall, catalog: string, schema: string): Promise<TrinoTablesDto> {
    const path = `/trino/tables/${encodeURIComponent(catalog)}/${encodeURIComponent(schema)}`;
    return this.json(call, 'tables', 'GET', path, undefined, (v) => ({ tables: stringList(v, 'tables') }));
  }

  /** ML-Agent's answer is its own: any JSON object (at most MAX_WORKFLOW_ANSWER_BYTES) is passed through as it is. */
  async runWorkflow(call: MlAgentCall, submission: MlAgentWorkflowSubmission): Promise<WorkflowRunAnswer> {
    return this.json(call, 'run_workflow', 'POST', '/run-workflow-trino', submission, jsonObject, MAX_WORKFLOW_ANSWER_BYTES);
  }

  /** One call; a 2xx answer is parsed and checked by `shape` (which throws a 502 for anything unexpected). */
  private async json<T>(
    call: MlAgentCall,
    operation: string,
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    shape: (value: unknown) => T,
    maxBytes = MAX_UPSTREAM_RESPONSE_BYTES,
  ): Promise<T> {
    this.assertConfigured();
    // The exchange's own failures (403 token_exchange_denied, 503 identity_provider_unavailable) are not ML-Agent's.
    const bearer = await call.credential.get();
    let answer: UpstreamAnswer;
    try {
      answer = await this.send(call, bearer, method, path, body, maxBytes);
    } catch (err) {
      const timeout = err instanceof ProblemException && err.getStatus() === 504;
      this.calls.inc({ operation, outcome: timeout ? 'timeout' : 'failed' });
      this.log.warn(
        { event: 'ml_agent.call_failed', operation, requestId: call.requestId, status: err instanceof ProblemException ? err.getStatus() : undefined },
        'ML-Agent call failed',
      );
      throw err;
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      let value: T;
      try {
        value = shape(JSON.parse(answer.text) as unknown);
      } catch (err) {
        this.calls.inc({ operation, outcome: 'failed' });
        this.log.warn({ event: 'ml_agent.unexpected_answer', operation, requestId: call.requestId, status }, 'ML-Agent answered a body the BFF cannot use');
        throw err instanceof ProblemException ? err : problem.badGateway(`${UPSTREAM} answered a malformed body`);
      }
      this.calls.inc({ operation, outcome: 'ok' });
      return value;
    }
    if (status === 401) {
      this.calls.inc({ operation, outcome: 'failed' });
      this.log.error({ event: 'ml_agent.unauthenticated', operation, requestId: call.requestId, status }, 'ML-Agent did not accept the token the BFF sent');
      throw new ProblemException(502, 'upstream_error', `${UPSTREAM} did not accept the credentials the BFF sent for this caller`);
    }
    if (status >= 400 && status < 500) {
      this.calls.inc({ operation, outcome: 'refused' });
      throw new MlAgentRefusal(status, parseOrText(answer.text));
    }
    this.calls.inc({ operation, outcome: 'failed' });
    this.log.warn({ event: 'ml_agent.upstream_error', operation, requestId: call.requestId, status }, 'ML-Agent answered an error');
    if (status >= 500) throw problem.badGateway(`${UPSTREAM} answered ${status}`);
    throw new ProblemException(502, 'upstream_error', `${UPSTREAM} answered an unexpected status ${status}`);
  }

  private async send(call: MlAgentCall, bearer: string, method: 'GET' | 'POST', path: string, body: unknown, maxBytes: number): Promise<UpstreamAnswer> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${bearer}`,
      'x-request-id': call.requestId,
    };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    return this.transport.fetchText({ method, url: `${this.baseUrl}${path}`, headers, body: payload }, maxBytes);
  }
}

/** An error body as passed through: its JSON, or its text (a proxy's HTML error page, say) cut to TEXT_BODY_LIMIT. */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.length > TEXT_BODY_LIMIT ? `${text.slice(0, TEXT_BODY_LIMIT)}…` : text;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(value: unknown, field: string): string[] {
  const list = isRecord(value) ? value[field] : undefined;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw problem.badGateway(`${UPSTREAM} answered an unexpected body (no list of ${field})`);
  }
  return list;
}

function jsonObject(value: unknown): WorkflowRunAnswer {
  if (!isRecord(value)) throw problem.badGateway(`${UPSTREAM} answered JSON that is not an object`);
  return value;
}

/** The problem `detail` and field errors of an ML-Agent refusal (FastAPI shapes: `{detail: string}` or `{detail: [{loc, msg}]}`). */
function describeRefusal(status: number, body: unknown): { detail: string; errors?: Array<{ field: string; message: string }> } {
  const detail = isRecord(body) ? body.detail : undefined;
  if (typeof detail === 'string' && detail.length > 0) {
    return { detail: `${UPSTREAM}: ${detail.length > DETAIL_LIMIT ? `${detail.slice(0, DETAIL_LIMIT)}…` : detail}` };
  }
  if (Array.isArray(detail)) {
    const errors = detail.filter(isRecord).map((e) => ({
      field: Array.isArray(e.loc)
        ? e.loc
            .filter((p) => p !== 'body')
            .map(String)
            .join('.')
        : '',
      message: typeof e.msg === 'string' ? e.msg : 'invalid',
    }));
    return { detail: `${UPSTREAM} refused the request (${status})`, errors };
  }
  return { detail: `${UPSTREAM} refused the request (${status})` };
}
