import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDecider } from './access-decider.service';
import { Authenticated, CurrentUser } from './decorators';
import { PrincipalDto } from './dto/principal.dto';
import type { Principal } from './principal';
import { RoutePolicyResolver } from './route-policy.resolver';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  /** The serialised answer per verified principal (cached principals are shared and never change). */
  private readonly bodies = new WeakMap<Principal, string>();

  constructor(
    private readonly decider: AccessDecider,
    private readonly routes: RoutePolicyResolver,
  ) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s principal, as proven by the bearer token' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentUser() principal: Principal): PrincipalDto {
    return PrincipalDto.from(principal);
  }

  /** Fast path (see HotRoutes): answers now when the token is proven and allowed; false leaves it to the guard and me(). */
  meNow(req: FastifyRequest, reply: FastifyReply): boolean {
    // What the guard applies to me(), from the same resolver: @Audience and roles included.
    const route = this.routes.resolve(AuthController.prototype.me, AuthController);
    if (route.kind !== 'policy' || route.breakGlass !== undefined) return false;
    const decision = this.decider.allowedNow({ authorization: req.headers.authorization }, route.policy);
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
