import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDecider } from '../auth/access-decider.service';
import { PUBLIC_POLICY, type AccessPolicy } from '../auth/access-policy';
import { denialProblem } from '../auth/auth.guard';
import type { Principal } from '../auth/principal';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { assertSameOrigin, publicBase } from '../common/same-origin';
import { SessionService } from '../session/session.service';
import { bodyStream, originalContentType } from './mlflow-body';
import { MlflowDenials } from './mlflow-denials';
import { MlflowForwarder } from './mlflow-forwarder';
import { mlflowPathClass, type MlflowPathClass } from '../config/mlflow-paths';
import { MlflowRestDecider } from './mlflow-rest';
import { MlflowTraceIngest } from './mlflow-trace-ingest';
import { MLFLOW_MOUNT, targetOf, type Target } from './mlflow-target';

export { MLFLOW_MOUNT } from './mlflow-target';
export const MLFLOW_POLICY: AccessPolicy = Object.freeze({ kind: 'authenticated', rule: 'mlflow' });
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Caller {
  principal: Principal;
  via: 'bearer' | 'session';
}

/**
 * /mlflow/** → MLFLOW_URL, in one visible order: normalise the path (exact method + path rules,
 * no prefix or forwarded-header tricks) → public paths (MLFLOW_PUBLIC_PATHS) → identify the caller
 * (bearer token, else the browser session, else a login redirect for page navigations) → CSRF
 * check for cookie requests that change state → decide by the kind of path (UI: any caller; OTLP
 * traces: EDIT on the experiment and on every trace the spans name — mlflow-trace-ingest.ts; REST: the endpoint table's experiment permission on
 * the request as MLflow will read it, fail closed — mlflow-rest.ts) → forward what was decided
 * (mlflow-forwarder.ts).
 */
@Injectable()
export class MlflowProxyService {
  private readonly publicPaths: ReadonlySet<string>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly decider: AccessDecider,
    private readonly sessions: SessionService,
    private readonly rest: MlflowRestDecider,
    private readonly traces: MlflowTraceIngest,
    private readonly forwarder: MlflowForwarder,
    private readonly denials: MlflowDenials,
  ) {
    this.publicPaths = new Set(config.mlflow.publicPaths);
  }

  async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const method = req.method.toUpperCase();
    if (!METHODS.has(method)) throw new ProblemException(405, 'method_not_allowed', `${method} is not forwarded to MLflow`);
    const target = targetOf(req, method);

    if (this.publicPaths.has(`${method} ${target.path}`)) {
      // Open to anyone; a bearer token that is sent must still be valid (as on every public route).
      const decision = await this.decider.decide({ authorization: req.headers.authorization }, PUBLIC_POLICY, target.route);
      if (!decision.allow) throw denialProblem(decision);
      return this.forwarder.forward(req, reply, target, { method, query: target.query, body: bodyStream(req), contentType: originalContentType(req) });
    }

    const kind = mlflowPathClass(target.path);
    const caller = await this.identify(req, reply, target, kind, method);
    if (!caller) return;
    if (caller.via === 'session' && !SAFE_METHODS.has(method)) assertSameOrigin(req, this.config, { requireEvidence: true });

    switch (kind) {
      case 'ui':
        if (method !== 'GET' && method !== 'HEAD') throw new ProblemException(405, 'method_not_allowed', 'MLflow UI paths take GET and HEAD only');
        return this.forwarder.forward(req, reply, target, { method, query: target.query });
      case 'traces':
        return this.forwarder.forward(req, reply, target, await this.traces.decide(req, target, caller.principal, method));
      case 'rest': {
        const decision = await this.rest.decide(req, target, caller.principal, method);
        if ('answer' in decision) {
          reply.code(200).header('content-type', 'application/json').send(decision.answer);
          return;
        }
        return this.forwarder.forward(req, reply, target, decision.forward);
      }
      default:
        throw this.denials.denied(caller.principal, target, 'unknown_path', `${target.path} is not an MLflow path the BFF exposes`);
    }
  }

  /**
   * The identity chain on a bearer token, else the browser session (a cookie beside an Authorization
   * header is ignored: credentialOf); page navigations without either go to the login.
   */
  private async identify(req: FastifyRequest, reply: FastifyReply, target: Target, kind: MlflowPathClass, method: string): Promise<Caller | undefined> {
    const authorization = req.headers.authorization;
    const sessionId = this.sessions.sessionIdOf(req);
    if ((authorization !== undefined && authorization !== '') || sessionId) {
      const decision = await this.decider.decide({ authorization, sessionId }, MLFLOW_POLICY, target.route);
      if (decision.allow) return { principal: decision.principal!, via: decision.via === 'session' ? 'session' : 'bearer' };
      if (decision.via !== 'session') throw denialProblem(decision);
      // A session that is gone or no longer good: its cookie is cleared, and the caller is treated as anonymous.
      this.sessions.dropCookie(reply);
    }
    if (kind === 'ui' && (method === 'GET' || method === 'HEAD') && isNavigation(req)) {
      const returnTo = `${MLFLOW_MOUNT}${target.upstreamPath}${target.query ? `?${target.query}` : ''}`;
      reply.header('cache-control', 'no-store').redirect(`${publicBase(req, this.config)}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, 302);
      return undefined;
    }
    throw problem.unauthorized('token_missing', 'a bearer token or a browser session (/auth/login) is required');
  }
}

/** A browser page load (not a fetch): these get the login redirect instead of a 401. */
function isNavigation(req: FastifyRequest): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return /\btext\/html\b/i.test(String(req.headers.accept ?? ''));
}
