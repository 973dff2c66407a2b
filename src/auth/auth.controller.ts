import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Allowed } from './access-decider.service';
import { Authenticated, CurrentUser, HotRoute } from './decorators';
import { PrincipalDto } from './dto/principal.dto';
import type { Principal } from './principal';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  /** The serialised answer per verified principal (cached principals are shared and never change). */
  private readonly bodies = new WeakMap<Principal, string>();

  @Get('me')
  @Authenticated()
  @HotRoute('meNow')
  @ApiOperation({ summary: 'The caller’s principal, as proven by the bearer token' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentUser() principal: Principal): PrincipalDto {
    return PrincipalDto.from(principal);
  }

  /** Fast path (see hot-routes.ts): me() for the caller the fast path allowed, as the guard would have. */
  meNow(_req: FastifyRequest, reply: FastifyReply, allowed: Allowed): boolean {
    const principal = allowed.principal;
    let body = this.bodies.get(principal);
    if (body === undefined) {
      body = JSON.stringify(this.me(principal));
      this.bodies.set(principal, body);
    }
    reply.type('application/json; charset=utf-8').send(body);
    return true;
  }
}
