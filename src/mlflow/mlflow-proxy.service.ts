import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { AccessDecider } from '../auth/access-decider.service';
import { normalisePath, PUBLIC_POLICY, type AccessPolicy } from '../auth/access-policy';
import { denialProblem } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { MetricsService } from '../common/metrics.service';
import { problem, ProblemException } from '../common/problem';
import { upstreamProblem } from '../common/upstream-error';
import { APP_CONFIG, type AppConfig, type MlflowPermissionLevel } from '../config/app-config';
import { assertSameOrigin, publicBase } from '../session/same-origin';
import { clearSessionCookie, readCookie } from '../session/session-cookie';
import { SessionService } from '../session/session.service';
import { bodyStream, originalContentType } from './mlflow-body';
import { artifactNeed, EXPERIMENT_ID, matchRestEndpoint, MLFLOW_USER_TAG, paramsInQuery, RUN_ID, type MatchedEndpoint } from './mlflow-endpoints';
import { mlflowPathClass, type MlflowPathClass } from './mlflow-paths';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowClient, PayloadTooLarge, readAll } from './mlflow.client';

/** The proxy's mount point on the BFF. */
export const MLFLOW_MOUNT = '/mlflow';
export const MLFLOW_POLICY: AccessPolicy = Object.freeze({ kind: 'authenticated', rule: 'mlflow' });
/** REST bodies the BFF reads to decide (MLflow itself caps log-batch at about 1 MB). */
const MAX_JSON_REQUEST = 2 * 1024 * 1024;
/** Responses the BFF reads to filter (searches) or to learn an id (creations). */
const MAX_JSON_RESPONSE = 32 * 1024 * 1024;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Never forwarded to MLflow: hop-by-hop, credentials, the browser's origin signals (the BFF checked them), forwarding claims. */
const REQUEST_HEADERS_DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'content-type',
  'authorization',
  'cookie',
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-request-id',
  'sec-fetch-site',
  'sec-fetch-mode',
  'sec-fetch-dest',
  'sec-fetch-user',
]);
/** Never returned from MLflow: hop-by-hop, cookies (the BFF owns the cookie namespace), CORS (the BFF's own policy applies). */
const RESPONSE_HEADERS_DROPPED = /^(?:connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade|set-cookie|access-control-.*)$/i;

interface Target {
  /** Normalised MLflow path (decoded), what every rule matches on. */
  path: string;
  /** The same path, percent-encoded, as sent to MLflow (a trailing slash kept). */
  upstreamPath: string;
  /** Raw query string, without `?`. */
  query: string;
  /** `METHOD /mlflow/...` for logs and decisions. */
  route: string;
}

interface Caller {
  principal: Principal;
  via: 'bearer' | 'session';
}

type Params = Record<string, unknown>;

interface ForwardOptions {
  body?: Readable | Buffer;
  contentType?: string;
  /** Reads a 200 JSON answer and returns what to send instead (undefined: send it unchanged). */
  inspect?: (json: Params) => Promise<unknown>;
}

/**
 * /mlflow/** → MLFLOW_URL, in one visible order: normalise the path (exact method + path rules,
 * no prefix or forwarded-header tricks) → public paths (MLFLOW_PUBLIC_PATHS) → identify the caller
 * (bearer token, else the browser session, else a login redirect for page navigations) → CSRF
 * check for cookie requests that change state → decide by the kind of path (UI: any caller; OTLP
 * traces: listed service accounts with EDIT; REST: the endpoint table's experiment permission,
 * fail closed) → forward with bodies streamed, or read and rewritten where the rule says so
 * (mlflow.user, search filtering, creator grant).
 */
@Injectable()
export class MlflowProxyService {
  private readonly log = new Logger('MlflowProxy');
  private readonly publicPaths: ReadonlySet<string>;
  private readonly traceClients: ReadonlySet<string>;
  private readonly denials: Counter<'reason'>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly decider: AccessDecider,
    private readonly sessions: SessionService,
    private readonly permissions: MlflowPermissionService,
    private readonly client: MlflowClient,
    metrics: MetricsService,
  ) {
    this.publicPaths = new Set(config.mlflow.publicPaths);
    this.traceClients = new Set(config.mlflow.traceClients);
    this.denials = metrics.counter('bff_mlflow_denials_total', 'MLflow requests refused by path rules or experiment permissions', ['reason']);
  }

  async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const method = req.method.toUpperCase();
    if (!METHODS.has(method)) throw new ProblemException(405, 'method_not_allowed', `${method} is not forwarded to MLflow`);
    const target = this.target(req, method);

    if (this.publicPaths.has(`${method} ${target.path}`)) {
      // Open to anyone; a bearer token that is sent must still be valid (as on every public route).
      const decision = await this.decider.decide({ authorization: req.headers.authorization }, PUBLIC_POLICY, target.route);
      if (!decision.allow) throw denialProblem(decision);
      return this.forward(req, reply, target, { body: bodyStream(req), contentType: originalContentType(req) });
    }

    const kind = mlflowPathClass(target.path);
    const caller = await this.identify(req, reply, target, kind, method);
    if (!caller) return;
    if (caller.via === 'session' && !SAFE_METHODS.has(method)) assertSameOrigin(req, this.config, { requireEvidence: true });

    switch (kind) {
      case 'ui':
        if (method !== 'GET' && method !== 'HEAD') throw new ProblemException(405, 'method_not_allowed', 'MLflow UI paths take GET and HEAD only');
        return this.forward(req, reply, target, {});
      case 'traces':
        return this.traces(req, reply, target, caller.principal, method);
      case 'rest':
        return this.rest(req, reply, target, caller.principal, method);
      default:
        throw this.denied(caller.principal, target, 'unknown_path', `${target.path} is not an MLflow path the BFF exposes`);
    }
  }

  // --- the request ---

  private target(req: FastifyRequest, method: string): Target {
    const raw = req.raw.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const normalised = normalisePath(rawPath);
    if (!normalised) throw problem.badRequest('the request path is malformed');
    if (normalised !== MLFLOW_MOUNT && !normalised.startsWith(`${MLFLOW_MOUNT}/`)) throw problem.badRequest(`the request path leaves ${MLFLOW_MOUNT}/`);
    const path = normalised.slice(MLFLOW_MOUNT.length) || '/';
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    const upstreamPath = path !== '/' && rawPath.endsWith('/') ? `${encoded}/` : encoded;
    return { path, upstreamPath, query: q < 0 ? '' : raw.slice(q + 1), route: `${method} ${MLFLOW_MOUNT}${path}` };
  }

  /** Bearer token first (a cookie alongside it is ignored), else the session cookie; page navigations without either go to the login. */
  private async identify(req: FastifyRequest, reply: FastifyReply, target: Target, kind: MlflowPathClass, method: string): Promise<Caller | undefined> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined && authorization !== '') {
      const decision = await this.decider.decide({ authorization }, MLFLOW_POLICY, target.route);
      if (!decision.allow) throw denialProblem(decision);
      return { principal: decision.principal!, via: 'bearer' };
    }
    const sessionId = readCookie(req, this.config.session.cookieName);
    if (sessionId) {
      const access = await this.sessions.access(sessionId);
      if (access) {
        const decision = await this.decider.decide({ authorization: `Bearer ${access.accessToken}` }, MLFLOW_POLICY, target.route);
        if (decision.allow) return { principal: decision.principal!, via: 'session' };
      }
      clearSessionCookie(reply, this.config);
    }
    if (kind === 'ui' && (method === 'GET' || method === 'HEAD') && isNavigation(req)) {
      const returnTo = `${MLFLOW_MOUNT}${target.upstreamPath}${target.query ? `?${target.query}` : ''}`;
      reply.header('cache-control', 'no-store').redirect(`${publicBase(req, this.config)}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, 302);
      return undefined;
    }
    throw problem.unauthorized('token_missing', 'a bearer token or a browser session (/auth/login) is required');
  }

  // --- OTLP traces ---

  private async traces(req: FastifyRequest, reply: FastifyReply, target: Target, principal: Principal, method: string): Promise<void> {
    if (method !== 'POST') throw new ProblemException(405, 'method_not_allowed', 'OTLP traces are POSTed');
    const client = principal.clientId;
    const serviceAccount = client !== undefined && principal.username?.toLowerCase() === `service-account-${client}`.toLowerCase();
    if (!client || !serviceAccount || !this.traceClients.has(client)) {
      throw this.denied(principal, target, 'trace_client', 'trace ingestion is only for the service accounts listed in MLFLOW_TRACE_CLIENTS');
    }
    const header = req.headers['x-mlflow-experiment-id'];
    const experimentId = typeof header === 'string' ? header.trim() : '';
    if (!EXPERIMENT_ID.test(experimentId)) throw problem.badRequest('X-Mlflow-Experiment-Id must name one experiment (a numeric id)');
    await this.require(principal, target, experimentId, 'EDIT');
    return this.forward(req, reply, target, { body: bodyStream(req), contentType: originalContentType(req) }, { 'x-mlflow-experiment-id': experimentId });
  }

  // --- REST ---

  private async rest(req: FastifyRequest, reply: FastifyReply, target: Target, principal: Principal, method: string): Promise<void> {
    const endpoint = matchRestEndpoint(target.path);
    if (!endpoint) throw this.denied(principal, target, 'unknown_endpoint', `${target.path} is not an MLflow endpoint the BFF exposes`);
    if (!endpoint.methods.includes(method)) throw new ProblemException(405, 'method_not_allowed', `${endpoint.name} takes ${endpoint.methods.join(', ')}`);
    const username = principal.username;
    if (!username) throw this.denied(principal, target, 'no_username', 'the token has no preferred_username: MLflow permissions are per user');
    const rule = endpoint.rule;

    if (rule.op === 'artifact' || rule.op === 'artifact-list') return this.artifact(req, reply, target, principal, method, endpoint);

    const inQuery = paramsInQuery(method);
    const query = new URLSearchParams(target.query);
    const params: Params = inQuery ? {} : await this.jsonBody(req);
    const one = (name: string): string | undefined => {
      if (!inQuery) {
        const v = params[name];
        if (v === undefined || v === null || v === '') return undefined;
        if (typeof v !== 'string') throw problem.badRequest(`${name} must be a string`);
        return v;
      }
      const all = query.getAll(name);
      if (all.length > 1) throw problem.badRequest(`${name} must be given once`);
      return all[0] === '' ? undefined : all[0];
    };
    const experimentParam = (name: string): string => {
      const id = one(name);
      if (id === undefined) throw problem.badRequest(`${name} is required`);
      if (!EXPERIMENT_ID.test(id)) throw problem.badRequest(`${name} must be a numeric experiment id`);
      return id;
    };
    const json = (): ForwardOptions => (inQuery ? {} : { body: Buffer.from(JSON.stringify(params)), contentType: 'application/json' });

    switch (rule.op) {
      case 'experiment':
        await this.require(principal, target, experimentParam('experiment_id'), rule.need);
        return this.forward(req, reply, target, json());

      case 'run': {
        const runId = this.runIdOf(one('run_id'), one('run_uuid'));
        await this.requireRun(principal, target, runId, rule.need);
        if (rule.identity === 'delete-tag' && one('key') === MLFLOW_USER_TAG) {
          throw this.denied(principal, target, 'identity_tag', `${MLFLOW_USER_TAG} is set by the BFF and cannot be deleted`);
        }
        if (rule.identity === 'set-tag' && params.key === MLFLOW_USER_TAG) {
          if (params.value !== username) this.identityReplaced(principal, target);
          params.value = username;
        }
        if (rule.identity === 'log-batch' && params.tags !== undefined) params.tags = this.callerTags(params.tags, username, principal, target, false);
        return this.forward(req, reply, target, json());
      }

      case 'runs': {
        const ids = query.getAll(rule.param);
        if (ids.length === 0) throw problem.badRequest(`${rule.param} is required`);
        for (const runId of new Set(ids)) await this.requireRun(principal, target, this.runIdOf(runId, undefined), rule.need);
        return this.forward(req, reply, target, {});
      }

      case 'create-experiment':
        return this.forward(req, reply, target, {
          ...json(),
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
        const experimentId = one('experiment_id') ?? '0';
        if (!EXPERIMENT_ID.test(experimentId)) throw problem.badRequest('experiment_id must be a numeric experiment id');
        await this.require(principal, target, experimentId, 'EDIT');
        params.experiment_id = experimentId;
        if (params.user_id !== undefined && params.user_id !== username) this.identityReplaced(principal, target);
        params.user_id = username;
        params.tags = this.callerTags(params.tags, username, principal, target, true);
        return this.forward(req, reply, target, {
          ...json(),
          inspect: async (answer) => {
            const runId = (answer.run as { info?: { run_id?: unknown } } | undefined)?.info?.run_id;
            if (typeof runId === 'string' && RUN_ID.test(runId)) await this.permissions.rememberRun(runId, experimentId);
            return undefined;
          },
        });
      }

      case 'get-by-name':
        if (!one('experiment_name')) throw problem.badRequest('experiment_name is required');
        return this.forward(req, reply, target, {
          inspect: async (answer) => {
            const id = (answer.experiment as { experiment_id?: unknown } | undefined)?.experiment_id;
            if (typeof id !== 'string' || !(await this.permissions.can(principal, id, 'READ'))) {
              throw this.denied(principal, target, 'permission', 'READ on this experiment is needed');
            }
            return undefined;
          },
        });

      case 'search-experiments':
        return this.forward(req, reply, target, {
          ...json(),
          inspect: async (answer) => {
            const found = Array.isArray(answer.experiments) ? (answer.experiments as Array<{ experiment_id?: unknown }>) : [];
            const readable = await this.permissions.readable(
              principal,
              found.map((e) => String(e.experiment_id)),
            );
            const experiments = found.filter((e) => readable.has(String(e.experiment_id)));
            const { experiments: _all, ...rest } = answer;
            return experiments.length > 0 ? { experiments, ...rest } : rest;
          },
        });

      case 'search-runs': {
        const requested = params.experiment_ids ?? [];
        if (!Array.isArray(requested) || requested.some((id) => typeof id !== 'string' || !EXPERIMENT_ID.test(id))) {
          throw problem.badRequest('experiment_ids must be a list of numeric experiment ids');
        }
        const readable = await this.permissions.readable(principal, requested as string[]);
        const allowed = (requested as string[]).filter((id) => readable.has(id));
        if (allowed.length === 0) {
          // Nothing the caller may read: MLflow's answer for no results, without asking MLflow.
          reply.code(200).header('content-type', 'application/json').send({});
          return;
        }
        params.experiment_ids = allowed;
        return this.forward(req, reply, target, {
          ...json(),
          inspect: async (answer) => {
            const runs = Array.isArray(answer.runs) ? (answer.runs as Array<{ info?: { experiment_id?: unknown } }>) : [];
            const kept = runs.filter((r) => readable.has(String(r.info?.experiment_id)));
            const { runs: _all, ...rest } = answer;
            return kept.length > 0 ? { runs: kept, ...rest } : rest;
          },
        });
      }
    }
  }

  private async artifact(req: FastifyRequest, reply: FastifyReply, target: Target, principal: Principal, method: string, endpoint: MatchedEndpoint): Promise<void> {
    let artifactPath = endpoint.artifactPath;
    if (endpoint.rule.op === 'artifact-list') {
      const paths = new URLSearchParams(target.query).getAll('path');
      if (paths.length !== 1) throw problem.badRequest('path must be given once (an experiment id first)');
      artifactPath = normalisePath(paths[0])?.slice(1);
    }
    const experimentId = artifactPath?.split('/')[0] ?? '';
    if (!EXPERIMENT_ID.test(experimentId)) throw this.denied(principal, target, 'artifact_path', 'artifact paths start with the experiment id');
    await this.require(principal, target, experimentId, artifactNeed(method));
    return this.forward(req, reply, target, { body: bodyStream(req), contentType: originalContentType(req) });
  }

  // --- decisions ---

  private async require(principal: Principal, target: Target, experimentId: string, need: MlflowPermissionLevel): Promise<void> {
    if (!(await this.permissions.can(principal, experimentId, need))) {
      throw this.denied(principal, target, 'permission', `${need} on experiment ${experimentId} is needed`);
    }
  }

  private async requireRun(principal: Principal, target: Target, runId: string, need: MlflowPermissionLevel): Promise<void> {
    const experimentId = await this.permissions.experimentOfRun(runId);
    if (experimentId === undefined) throw problem.notFound(`no run ${runId}`);
    await this.require(principal, target, experimentId, need);
  }

  private runIdOf(runId: string | undefined, runUuid: string | undefined): string {
    if (runId !== undefined && runUuid !== undefined && runId !== runUuid) throw problem.badRequest('run_id and run_uuid name different runs');
    const id = runId ?? runUuid;
    if (id === undefined) throw problem.badRequest('run_id is required');
    if (!RUN_ID.test(id)) throw problem.badRequest('run_id is malformed');
    return id;
  }

  /** The run's tags with mlflow.user = the caller (a client-sent value replaced; added when `add`). */
  private callerTags(tags: unknown, username: string, principal: Principal, target: Target, add: boolean): Array<{ key: unknown; value: unknown }> {
    if (tags !== undefined && tags !== null && !Array.isArray(tags)) throw problem.badRequest('tags must be a list of {key, value}');
    const list = ((tags ?? []) as unknown[]).map((t) =>
      t && typeof t === 'object' ? (t as { key: unknown; value: unknown }) : { key: undefined, value: undefined },
    );
    const spoofed = list.filter((t) => t.key === MLFLOW_USER_TAG);
    if (spoofed.some((t) => t.value !== username)) this.identityReplaced(principal, target);
    const kept = list.filter((t) => t.key !== MLFLOW_USER_TAG);
    return add || spoofed.length > 0 ? [...kept, { key: MLFLOW_USER_TAG, value: username }] : kept;
  }

  private identityReplaced(principal: Principal, target: Target): void {
    this.log.warn(
      { event: 'mlflow.identity_replaced', sub: principal.subject, username: principal.username, route: target.route },
      'client-sent MLflow user replaced by the token user',
    );
  }

  private denied(principal: Principal, target: Target, reason: string, detail: string): ProblemException {
    this.denials.inc({ reason });
    this.log.warn({
      event: 'mlflow.decision',
      outcome: 'deny',
      reason,
      sub: principal.subject,
      username: principal.username,
      azp: principal.clientId,
      route: target.route,
    });
    return problem.forbidden('insufficient_role', detail);
  }

  // --- forwarding ---

  private async jsonBody(req: FastifyRequest): Promise<Params> {
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
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw problem.badRequest('the request body is not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw problem.badRequest('the request body must be a JSON object');
    return parsed as Params;
  }

  private async forward(req: FastifyRequest, reply: FastifyReply, target: Target, opts: ForwardOptions, extra: OutgoingHttpHeaders = {}): Promise<void> {
    const headers = forwardHeaders(req.headers);
    headers['x-request-id'] = String(req.id);
    if (opts.contentType) headers['content-type'] = opts.contentType;
    if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
    else if (opts.body && req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    if (opts.inspect) headers['accept-encoding'] = 'identity';
    Object.assign(headers, extra);

    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    let res: IncomingMessage;
    try {
      res = await this.client.send({ method: req.method, path: target.upstreamPath, query: target.query, headers, body: opts.body, signal: gone.signal });
    } catch (err) {
      if (gone.signal.aborted) return;
      throw upstreamProblem(err, 'MLflow') ?? problem.badGateway('MLflow failed');
    }
    const status = res.statusCode ?? 502;
    const out = responseHeaders(res.headers);
    const isJson = /^application\/json\b/i.test(String(res.headers['content-type'] ?? ''));
    if (!opts.inspect || status !== 200 || !isJson || req.method === 'HEAD') {
      reply.code(status).headers(out).send(res);
      return;
    }
    let answer: Params;
    try {
      const text = (await readAll(res, MAX_JSON_RESPONSE)).toString('utf8');
      answer = (text.trim() ? JSON.parse(text) : {}) as Params;
    } catch (err) {
      if (gone.signal.aborted) return;
      throw problem.badGateway(err instanceof PayloadTooLarge ? 'MLflow answered more than the BFF reads' : 'MLflow answered a malformed body');
    }
    const replaced = await opts.inspect(answer);
    const body = Buffer.from(JSON.stringify(replaced ?? answer));
    delete out['content-encoding'];
    reply
      .code(status)
      .headers({ ...out, 'content-type': 'application/json', 'content-length': String(body.length) })
      .send(body);
  }
}

function forwardHeaders(given: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || REQUEST_HEADERS_DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function responseHeaders(given: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || RESPONSE_HEADERS_DROPPED.test(name)) continue;
    out[name] = value;
  }
  return out;
}

/** A browser page load (not a fetch): these get the login redirect instead of a 401. */
function isNavigation(req: FastifyRequest): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return /\btext\/html\b/i.test(String(req.headers.accept ?? ''));
}
