import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentUser } from './decorators';
import { PrincipalDto } from './dto/principal.dto';
import type { Principal } from './principal';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s principal, as proven by the bearer token' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentUser() principal: Principal): PrincipalDto {
    return PrincipalDto.from(principal);
  }
}
