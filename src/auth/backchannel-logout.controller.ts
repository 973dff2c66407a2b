import { Body, Controller, Header, HttpCode, Logger, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiProblems } from '../common/api-problems.decorator';
import { ProblemException } from '../common/problem';
import { AuthFailure } from './auth-failure';
import { Public } from './decorators';
import { LogoutTokenVerifier } from './logout-token';
import { Revocations } from './revocation.service';

export const BACKCHANNEL_LOGOUT_ROUTE = '/auth/backchannel-logout';
const FORM = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;
const FORM_BODY = Symbol('backchannel.form');

/**
 * The identity provider posts its logout tokens form-encoded (`logout_token=…`). For this one route the
 * form is declared text/plain before Fastify picks a parser, so Fastify's own text parser reads it (with
 * the app's body limit; an onRequest hook, registered in src/pipeline.ts), and the handler parses it; any other content type keeps its own parser and
 * is refused by the handler (400). No other route's content types change.
 */
export const backchannelFormAsText: onRequestHookHandler = (req, _reply, done) => {
  if (req.method === 'POST' && req.routeOptions.url === BACKCHANNEL_LOGOUT_ROUTE && FORM.test(req.headers['content-type'] ?? '')) {
    Object.defineProperty(req.raw, FORM_BODY, { value: true, enumerable: false });
    req.headers['content-type'] = 'text/plain; charset=utf-8';
  }
  done();
};

/**
 * OpenID Connect Back-Channel Logout 1.0: the realm calls this when a user session ends (logout at
 * the identity provider, an admin's sign-out, session expiry), for every client of the session whose
 * back-channel logout URL points here. The session (or user) is then refused on every replica.
 */
@ApiTags('auth')
@Controller('auth')
export class BackchannelLogoutController {
  private readonly log = new Logger('BackchannelLogout');

  constructor(
    private readonly tokens: LogoutTokenVerifier,
    private readonly revocations: Revocations,
  ) {}

  @Post('backchannel-logout')
  @Public()
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'OIDC back-channel logout (called by Keycloak, not by browsers)',
    description:
      'Takes a form-encoded `logout_token` from the realm, verified with the realm’s keys and the Back-Channel Logout rules ' +
      '(typ logout+jwt, the back-channel logout event, sid and/or sub, no nonce, fresh iat, single-use jti, aud one of ' +
      'BACKCHANNEL_LOGOUT_CLIENTS). The session (sid), or else every earlier token of the user (sub), is refused from then on ' +
      'on every replica: bearer tokens, agent WebSockets, Trino queries, cached exchanged tokens and browser sessions.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiBody({ schema: { type: 'object', required: ['logout_token'], properties: { logout_token: { type: 'string' } } } })
  @ApiOkResponse({ description: 'The logout is recorded' })
  @ApiProblems(400, 503)
  async logout(@Req() req: FastifyRequest, @Body() body: unknown): Promise<void> {
    const form = (req.raw as unknown as Record<symbol, unknown>)[FORM_BODY] === true && typeof body === 'string' ? new URLSearchParams(body) : undefined;
    const given = form?.getAll('logout_token') ?? [];
    if (given.length !== 1) throw new ProblemException(400, 'validation_failed', 'the body must be a form with exactly one logout_token');
    let request;
    try {
      request = await this.tokens.verify(given[0]);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      this.log.warn({ event: 'backchannel_logout.refused', reason: err.reason, detail: err.detail });
      throw new ProblemException(err.status, err.reason, err.detail);
    }
    const { issuer, sid, sub, iat, audience } = request;
    // A sid ends that session only (sub is then only who it belonged to); a sub alone ends every earlier token of the user.
    await this.revocations.revoke(sid !== undefined ? { issuer, sid, sub } : { issuer, sub, before: iat });
    this.log.log({ event: 'backchannel_logout', sid, sub, client: audience, scope: sid !== undefined ? 'session' : 'user' });
  }
}
