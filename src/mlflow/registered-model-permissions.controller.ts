import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, CurrentUser } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../common/api-problems.decorator';
import { SetExperimentPermissionDto } from './dto/experiment-permission.dto';
import {
  RegisteredModelEffectiveDto,
  RegisteredModelGrantDto,
  RegisteredModelGrantsDto,
  RegisteredModelParamsDto,
  RegisteredModelUserParamsDto,
} from './dto/registered-model-permission.dto';
import { MlflowGrants } from './mlflow-grants';

/**
 * Per-registered-model grants (READ, EDIT, MANAGE) of MLflow's model registry (prompts are
 * registered models too), the same API as the experiments': managed by the model's MANAGE holders
 * (its creator, anyone granted MANAGE, groups or roles whose MLFLOW_GROUP_PERMISSIONS default is
 * MANAGE). A model's grants follow it when it is renamed and go when it is deleted.
 */
@ApiTags('mlflow-permissions')
@Controller('mlflow-permissions/registered-models/:name')
export class RegisteredModelPermissionsController {
  constructor(private readonly grants: MlflowGrants) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s own permission on a registered model, and where it comes from' })
  @ApiOkResponse({ type: RegisteredModelEffectiveDto })
  @ApiProblems(400)
  async mine(@Param() params: RegisteredModelParamsDto, @CurrentUser() principal: Principal): Promise<RegisteredModelEffectiveDto> {
    const effective = await this.grants.effective('registered-model', params.name, principal);
    return Object.assign(new RegisteredModelEffectiveDto(), { name: params.name, username: principal.username, ...effective });
  }

  @Get('users')
  @Authenticated()
  @ApiOperation({ summary: 'The per-user grants on a registered model (MANAGE needed)' })
  @ApiOkResponse({ type: RegisteredModelGrantsDto })
  @ApiProblems(400, 403)
  async list(@Param() params: RegisteredModelParamsDto, @CurrentUser() principal: Principal): Promise<RegisteredModelGrantsDto> {
    const grants = await this.grants.list('registered-model', params.name, principal);
    return { name: params.name, users: grants.map((g) => RegisteredModelGrantDto.from(params.name, g)) };
  }

  @Get('users/:username')
  @Authenticated()
  @ApiOperation({ summary: 'One user’s grant on a registered model (MANAGE needed)' })
  @ApiOkResponse({ type: RegisteredModelGrantDto })
  @ApiProblems(400, 403, 404)
  async one(@Param() params: RegisteredModelUserParamsDto, @CurrentUser() principal: Principal): Promise<RegisteredModelGrantDto> {
    return RegisteredModelGrantDto.from(params.name, await this.grants.one('registered-model', params.name, params.username, principal));
  }

  @Put('users/:username')
  @Authenticated()
  @ApiOperation({
    summary: 'Grant a user READ, EDIT or MANAGE on a registered model (MANAGE needed)',
    description: 'Replaces the user’s grant. Grants add to what the user’s groups and roles give; they never take it away.',
  })
  @ApiOkResponse({ type: RegisteredModelGrantDto })
  @ApiProblems(400, 403, 404, 502, 503, 504)
  async set(
    @Param() params: RegisteredModelUserParamsDto,
    @Body() body: SetExperimentPermissionDto,
    @CurrentUser() principal: Principal,
    @Req() req: FastifyRequest,
  ): Promise<RegisteredModelGrantDto> {
    const grant = await this.grants.set('registered-model', params.name, params.username, body.permission, principal, req);
    return RegisteredModelGrantDto.from(params.name, grant);
  }

  @Delete('users/:username')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a user’s grant on a registered model (MANAGE needed)' })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiProblems(400, 403, 404)
  async remove(@Param() params: RegisteredModelUserParamsDto, @CurrentUser() principal: Principal, @Req() req: FastifyRequest): Promise<void> {
    await this.grants.remove('registered-model', params.name, params.username, principal, req);
  }
}
