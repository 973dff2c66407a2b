import { Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { ApiFoundResponse, ApiOperation, ApiQuery, ApiResponse, ApiSeeOtherResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { LoginQueryDto } from './dto/login-query.dto';
import { assertSameOrigin, publicBase } from '../common/same-origin';
import { clearLoginCookie, clearSessionCookie, loginCookieName, readCookie, setLoginCookie, setSessionCookie } from './session-cookie';
import { DEFAULT_RETURN_TO, SessionService } from './session.service';

/**
 * The browser login of the BFF (for the MLflow UI): OpenID Connect authorization code flow with
 * PKCE at the identity provider, then a server-side session behind an HttpOnly cookie. APIs,
 * CI and services keep using bearer tokens; these routes are for browsers.
 */
@ApiTags('session')
@Controller('auth')
export class SessionController {
  constructor(
    private readonly sessions: SessionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('login')
  @Public()
  @ApiOperation({
    summary: 'Start the browser login (redirects to the identity provider)',
    description:
      'Redirects to the identity provider’s authorization endpoint (code flow, PKCE S256, state, nonce) and binds the ' +
      'login to this browser with a short-lived HttpOnly cookie. After the login the browser returns to `returnTo`. ' +
      'Limited per client address (LOGIN_RATE_PER_MINUTE calls a minute; LOGIN_PENDING_PER_CLIENT logins in flight) and in all (LOGIN_PENDING_MAX): beyond, 429.',
  })
  @ApiFoundResponse({ description: 'To the identity provider’s login page' })
  @ApiProblems(400, 429, 503)
  async start(@Query() query: LoginQueryDto, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const base = publicBase(req, this.config);
    const { authorizationUrl, state } = await this.sessions.beginLogin(query.returnTo ?? DEFAULT_RETURN_TO, `${base}/auth/callback`, req.ip);
    setLoginCookie(reply, this.config, state);
    reply.header('cache-control', 'no-store').redirect(authorizationUrl, 302);
  }

  @Get('callback')
  @Public()
  @ApiOperation({
    summary: 'The identity provider returns here (authorization response)',
    description:
      'Checks that the login was started in this browser (state cookie), redeems the code with the PKCE verifier, ' +
      'checks the ID token (nonce) and that the access token is one this service accepts, then starts a session ' +
      '(HttpOnly, SameSite=Lax cookie; Secure when PUBLIC_URL is https) and redirects to `returnTo`.',
  })
  @ApiQuery({ name: 'code', required: false })
  @ApiQuery({ name: 'state', required: true })
  @ApiQuery({ name: 'iss', required: false, description: 'RFC 9207 issuer identification' })
  @ApiQuery({ name: 'error', required: false, description: 'When the identity provider refused the login' })
  @ApiFoundResponse({ description: 'Logged in: to returnTo' })
  @ApiProblems(400, 401, 403, 503)
  async callback(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const raw = req.raw.url ?? '';
    const q = raw.indexOf('?');
    const bound = readCookie(req, loginCookieName(this.config));
    clearLoginCookie(reply, this.config);
    const { sessionId, returnTo } = await this.sessions.completeLogin(q < 0 ? '' : raw.slice(q + 1), bound);
    setSessionCookie(reply, this.config, sessionId);
    reply.header('cache-control', 'no-store').redirect(`${publicBase(req, this.config)}${returnTo}`, 302);
  }

  @Post('logout')
  @Public()
  @HttpCode(303)
  @ApiOperation({
    summary: 'End the browser session (and the identity provider’s)',
    description:
      'Deletes the session and its cookie, then redirects to the identity provider’s end-session endpoint ' +
      '(id_token_hint, back to /mlflow/ afterwards). Refused when the request comes from another site (CSRF).',
  })
  @ApiSeeOtherResponse({ description: 'To the identity provider’s logout' })
  @ApiProblems(403)
  async logout(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.endSession(req, reply);
  }

  @Get('logout')
  @Public()
  @ApiOperation({
    summary: 'End the browser session from a link (same as POST)',
    description: 'For links and typed URLs: refused when the browser says the request comes from another site (Sec-Fetch-Site, Origin, Referer).',
  })
  @ApiResponse({ status: 303, description: 'To the identity provider’s logout' })
  @ApiProblems(403)
  async logoutLink(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.endSession(req, reply);
  }

  private async endSession(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    // A forged logout is a nuisance, not a takeover: refuse it on evidence of another site, accept evidence-less clients.
    assertSameOrigin(req, this.config, { requireEvidence: false });
    const base = publicBase(req, this.config);
    const ended = await this.sessions.end(readCookie(req, this.config.session.cookieName));
    clearSessionCookie(reply, this.config);
    const after = `${base}${DEFAULT_RETURN_TO}`;
    const target = ended ? ((await this.sessions.endSessionUrl(ended.idToken, after)) ?? after) : after;
    reply.header('cache-control', 'no-store').redirect(target, 303);
  }
}
