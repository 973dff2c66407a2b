import { Controller, Get } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDecider } from './access-decider.service';
import type { AccessPolicy } from './access-policy';
import { Authenticated, CurrentUser, RoutePolicy } from './decorators';
import { PrincipalDto } from './dto/principal.dto';
import type { Principal } from './principal';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  /** The policy `me` declares, read from its decorator (one source for the guard and the fast path). */
  private readonly mePolicy: AccessPolicy;
  /** The serialised answer per verified principal (cached principals are shared and never change). */
  private readonly bodies = new WeakMap<Principal, string>();

  constructor(
    private readonly decider: AccessDecider,
    reflector: Reflector,
  ) {
    this.mePolicy = reflector.get(RoutePolicy, AuthController.prototype.me);
  }

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s principal, as proven by the bearer token' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentUser() principal: Principal): PrincipalDto {
    return PrincipalDto.from(principal);
  }

  /** Fast path (see HotRoutes): answers now when the token is proven and allowed; false leaves it to the guard and me(). */
  meNow(req: FastifyRequest, reply: FastifyReply): boolean {
    const decision = this.decider.allowedNow({ authorization: req.headers.authorization }, this.mePolicy);
    if (!decision) return false;
    const principal = decision.principal!;
    let body = this.bodies.get(principal);
    if (body === undefined) {
      body = JSON.stringify(this.me(principal));
      this.bodies.set(principal, body);
    }
    reply.type('application/json; charset=utf-8').send(body);
    return true;
  }
}
