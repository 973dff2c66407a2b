import { All, applyDecorators, Controller, Inject, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../common/problem';
import { AccessDecider, type Refusal } from './access-decider.service';
import { normalisePath } from '../config/request-path';
import { AUTHENTICATED_POLICY, gatewayPolicyFor, type AccessPolicy } from './access-policy';
import { ExtAuthz, HotRoute } from './decorators';
import { escapedHeaderValue, headerSafeUser, type Principal } from './principal';
import { originalUriCredentials, queryValues, type TokenSources } from './token-source';

/**
 * Identity headers a client may try to smuggle past a gateway. Envoy honours
 * x-envoy-auth-headers-to-remove and strips them from the upstream request; the headers the
 * BFF itself answers with are not listed (the gateway overwrites those with the BFF's values).
 */
const REMOVE_HEADER = 'x-envoy-auth-headers-to-remove';
const REMOVE_ON_VALIDATE = 'x-trino-original-user,x-user-id,x-user-name,x-user-email,x-forwarded-user';

/**
 * The ext-authz endpoints that gateways call before proxying: Envoy ext_authz (/api/validate)
 * and Envoy SecurityPolicy extAuth / nginx auth_request (/api/auth). They sit on the hot path of
 * every proxied request, so they answer straight from the reply with no interceptors or pipes.
 */
@ApiTags('ext-authz')
@Controller('api')
export class ExtAuthzController {
  constructor(
    private readonly decider: AccessDecider,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @All('validate/*')
  @ExtAuthz('trino')
  @HotRoute('validateNow')
  @OriginalPathParam()
  @ApiOperation({
    summary: 'Envoy ext_authz check for Trino traffic',
    description:
      'Envoy http_service with path_prefix /api/validate: the client’s method and path follow the prefix. ' +
      '200 with x-trino-user (the TRINO_USER_CLAIM claim verbatim) when the token is valid; 401/403 problem+json otherwise ' +
      '(403 claim_missing when the claim is absent or not header-safe printable ASCII, as on POST /v1/statement).',
  })
  @ApiQuery({ name: 'access-token', required: false, description: 'Token for clients that cannot set headers' })
  @ApiResponse({ status: 200, description: 'Allowed', headers: { 'x-trino-user': { description: 'The Trino user', schema: { type: 'string', example: 'alice' } } } })
  async validate(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const decision = await this.decider.decide(validateSources(req), AUTHENTICATED_POLICY, '/api/validate');
    if (!decision.allow) return this.deny(reply, decision, req.url);
    // The Trino user as POST /v1/statement names it: the claim verbatim when header-safe, else a 403 (never a look-alike).
    const user = headerSafeUser(decision.principal!, this.config.trino.userClaim);
    if (!user) {
      return this.deny(
        reply,
        {
          allow: false,
          status: 403,
          reason: 'claim_missing',
          detail: `the token has no usable ${this.config.trino.userClaim} claim (printable ASCII) to name the Trino user`,
        },
        req.url,
      );
    }
    this.allowTrino(reply, user);
  }

  /** Fast path (see hot-routes.ts): answers now when the token is proven and allowed; false leaves it to validate(). */
  validateNow(req: FastifyRequest, reply: FastifyReply): boolean {
    const decision = this.decider.allowedNow(validateSources(req), AUTHENTICATED_POLICY);
    const user = decision && headerSafeUser(decision.principal!, this.config.trino.userClaim);
    if (!user) return false;
    this.allowTrino(reply, user);
    return true;
  }

  private allowTrino(reply: FastifyReply, user: string): void {
    reply.header('x-trino-user', user).header(REMOVE_HEADER, REMOVE_ON_VALIDATE).code(200).send();
  }

  @All('auth')
  @GatewayCheckDocs()
  @HotRoute('checkNow')
  authCheck(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.check(req, reply);
  }

  @All('auth/*')
  @OriginalPathParam()
  @GatewayCheckDocs()
  @HotRoute('checkNow')
  authCheckPath(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.check(req, reply);
  }

  private async check(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const request = gatewayRequest(req, this.config.auth.originalUriHeader);
    if ('malformed' in request) {
      return this.deny(reply, { allow: false, status: 400, reason: 'validation_failed', detail: 'the original path is malformed' }, req.url);
    }
    // Every path presented must pass its policy: a proxy cannot be steered by a second, laxer path.
    let principal: Principal | undefined;
    for (const policy of request.policies) {
      const decision = await this.decider.decide(request.sources, policy, request.paths[0] ?? '/');
      if (!decision.allow) return this.deny(reply, decision, req.url);
      principal = decision.principal;
    }
    if (!this.allowUser(reply, principal!)) {
      const detail = 'an identity claim of the token cannot be sent as a header';
      return this.deny(reply, { allow: false, status: 403, reason: 'insufficient_role', detail }, req.url);
    }
  }

  /** Fast path (see hot-routes.ts) of /api/auth: answers now when every policy allows a proven token; false leaves it to the route. */
  checkNow(req: FastifyRequest, reply: FastifyReply): boolean {
    // The body (a `token` field) is not parsed yet when the fast path runs: the route decides those.
    if (mayHaveBody(req)) return false;
    const request = gatewayRequest(req, this.config.auth.originalUriHeader);
    if ('malformed' in request) return false;
    let principal: Principal | undefined;
    for (const policy of request.policies) {
      const decision = this.decider.allowedNow(request.sources, policy);
      if (!decision) return false;
      principal = decision.principal;
    }
    return this.allowUser(reply, principal!);
  }

  /** Answers 200 with the principal's x-user-*; false (nothing sent) when a claim has no header form. */
  private allowUser(reply: FastifyReply, p: Principal): boolean {
    const remove = ['x-trino-user', 'x-trino-original-user', 'x-forwarded-user'];
    const headers: Record<string, string> = {};
    for (const [name, value] of [
      ['x-user-id', p.subject],
      ['x-user-name', p.username],
      ['x-user-email', p.email],
    ] as const) {
      if (!value) {
        remove.push(name);
        continue;
      }
      const escaped = escapedHeaderValue(value);
      if (escaped === undefined) return false;
      headers[name] = escaped;
    }
    reply.headers(headers).header(REMOVE_HEADER, remove.join(',')).code(200).send();
    return true;
  }

  private deny(reply: FastifyReply, d: Refusal, url: string): void {
    if (d.status === 401) reply.header('www-authenticate', 'Bearer realm="platform-bff"');
    reply
      .code(d.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problemBody(d.status, d.reason, d.detail, url.split('?')[0], String(reply.request.id)));
  }
}

/** The contract of /api/auth (both routes: bare, and with the original path as suffix). */
function GatewayCheckDocs(): MethodDecorator {
  return applyDecorators(
    ExtAuthz('gateway-routes'),
    ApiOperation({
      summary: 'Access check for Envoy SecurityPolicy extAuth and nginx auth_request',
      description:
        'The original URI comes from the suffix after /api/auth (Envoy appends it) or from the one header the configured ' +
        'gateway sets (AUTH_ORIGINAL_URI_HEADER, default X-Original-URI, as nginx auth_request sets it from $request_uri); ' +
        'any other header naming a URI is ignored. When both are given, every one must pass. The route-policy table ' +
        'applies (e.g. /api/agents/** needs REGULAR or ADMIN). An access-token or ticket in the original URI counts only ' +
        'on the WebSocket upgrade GET /api/agents/{id}/react. ' +
        '200 with x-user-id, x-user-name, x-user-email; 401/403 problem+json otherwise.',
    }),
    ApiHeader({
      name: 'X-Original-URI',
      required: false,
      description: 'Original request URI, set by the gateway (the default AUTH_ORIGINAL_URI_HEADER; nginx auth_request)',
    }),
    ApiHeader({ name: 'X-Original-Method', required: false, description: 'Original request method, set by the gateway with the original URI header' }),
    ApiQuery({ name: 'access-token', required: false, description: 'Token for WebSocket upgrades' }),
    ApiResponse({
      status: 200,
      description: 'Allowed',
      headers: {
        'x-user-id': { description: 'sub (printable ASCII without % as it is, else percent-encoded whole as UTF-8)', schema: { type: 'string' } },
        'x-user-name': { description: 'preferred_username (escaped as x-user-id)', schema: { type: 'string' } },
        'x-user-email': { description: 'email (escaped as x-user-id)', schema: { type: 'string' } },
      },
    }),
  );
}

/** The wildcard suffix: the client's original path, as the gateway appends it. */
function OriginalPathParam(): MethodDecorator {
  return ApiParam({ name: 'path', description: 'The original request path (any number of segments)', schema: { type: 'string', example: 'v1/statement' } });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mayHaveBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function validateSources(req: FastifyRequest): TokenSources {
  return { authorization: req.headers.authorization, queryTokens: queryValues(req.url, 'access-token') };
}

type GatewayRequest = { paths: string[]; sources: TokenSources; policies: AccessPolicy[] } | { malformed: true };

/**
 * What /api/auth decides on: the original URIs the gateway itself gave (the path suffix, with its
 * query, as Envoy appends it; the one header the configured gateway sets, `uriHeader`), their
 * policies and the token sources. No header a client can send through the gateway names the
 * original URI: nginx overwrites its header with $request_uri, Envoy sends only the headers it is
 * told to. The check's own query (the bare /api/auth) is its own credential, not an original URI.
 */
function gatewayRequest(req: FastifyRequest, uriHeader: string | undefined): GatewayRequest {
  const ownPathEnd = req.url.indexOf('?');
  const suffixPath = req.url.slice('/api/auth'.length, ownPathEnd < 0 ? undefined : ownPathEnd);
  const bare = suffixPath === '' || suffixPath === '/';
  const fromHeader = uriHeader === undefined ? undefined : header(req, uriHeader) || undefined;
  const originalUris = [bare ? undefined : req.url.slice('/api/auth'.length), fromHeader].filter((u): u is string => u !== undefined);
  const paths: string[] = [];
  for (const raw of originalUris) {
    const p = normalisePath(raw);
    if (p === undefined) return { malformed: true };
    paths.push(p);
  }
  // The method of the original request: the gateway's header beside its URI header (nginx), else the check's own (Envoy keeps it).
  const method = (fromHeader !== undefined ? header(req, 'x-original-method') : undefined) ?? req.method;
  const inUri = originalUriCredentials(originalUris, method);
  const body = req.body as { token?: unknown } | undefined;
  const sources: TokenSources = {
    authorization: req.headers.authorization,
    queryTokens: [...(bare ? queryValues(req.url, 'access-token') : []), ...inUri.accessTokens],
    bodyToken: body && typeof body === 'object' ? body.token : undefined,
    wsTicket: inUri.wsTicket,
  };
  return { paths, sources, policies: [...new Set((paths.length > 0 ? paths : ['/']).map(gatewayPolicyFor))] };
}
