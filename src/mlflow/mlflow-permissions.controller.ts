import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, CurrentUser } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../common/api-problems.decorator';
import {
  EffectivePermissionDto,
  ExperimentGrantDto,
  ExperimentGrantsDto,
  ExperimentParamsDto,
  ExperimentUserParamsDto,
  SetExperimentPermissionDto,
} from './dto/experiment-permission.dto';
import { MlflowGrants } from './mlflow-grants';

/**
 * Per-experiment grants (READ, EDIT, MANAGE), managed by the experiment's MANAGE holders (its
 * creator, anyone granted MANAGE, and groups or roles whose MLFLOW_GROUP_PERMISSIONS default is
 * MANAGE). Bearer tokens only. Every change is an audit event.
 */
@ApiTags('mlflow-permissions')
@Controller('mlflow-permissions/experiments/:experimentId')
export class MlflowPermissionsController {
  constructor(private readonly grants: MlflowGrants) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s own permission on an experiment, and where it comes from' })
  @ApiOkResponse({ type: EffectivePermissionDto })
  @ApiProblems(400)
  async mine(@Param() params: ExperimentParamsDto, @CurrentUser() principal: Principal): Promise<EffectivePermissionDto> {
    const effective = await this.grants.effective('experiment', params.experimentId, principal);
    return Object.assign(new EffectivePermissionDto(), { experimentId: params.experimentId, username: principal.username, ...effective });
  }

  @Get('users')
  @Authenticated()
  @ApiOperation({ summary: 'The per-user grants on an experiment (MANAGE needed)' })
  @ApiOkResponse({ type: ExperimentGrantsDto })
  @ApiProblems(400, 403)
  async list(@Param() params: ExperimentParamsDto, @CurrentUser() principal: Principal): Promise<ExperimentGrantsDto> {
    const grants = await this.grants.list('experiment', params.experimentId, principal);
    return { experimentId: params.experimentId, users: grants.map((g) => ExperimentGrantDto.from(params.experimentId, g)) };
  }

  @Get('users/:username')
  @Authenticated()
  @ApiOperation({ summary: 'One user’s grant on an experiment (MANAGE needed)' })
  @ApiOkResponse({ type: ExperimentGrantDto })
  @ApiProblems(400, 403, 404)
  async one(@Param() params: ExperimentUserParamsDto, @CurrentUser() principal: Principal): Promise<ExperimentGrantDto> {
    return ExperimentGrantDto.from(params.experimentId, await this.grants.one('experiment', params.experimentId, params.username, principal));
  }

  @Put('users/:username')
  @Authenticated()
  @ApiOperation({
    summary: 'Grant a user READ, EDIT or MANAGE on an experiment (MANAGE needed)',
    description: 'Replaces the user’s grant. Grants add to what the user’s groups and roles give; they never take it away.',
  })
  @ApiOkResponse({ type: ExperimentGrantDto })
  @ApiProblems(400, 403, 404, 502, 503, 504)
  async set(
    @Param() params: ExperimentUserParamsDto,
    @Body() body: SetExperimentPermissionDto,
    @CurrentUser() principal: Principal,
    @Req() req: FastifyRequest,
  ): Promise<ExperimentGrantDto> {
    const grant = await this.grants.set('experiment', params.experimentId, params.username, body.permission, principal, req);
    return ExperimentGrantDto.from(params.experimentId, grant);
  }

  @Delete('users/:username')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a user’s grant on an experiment (MANAGE needed)' })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiProblems(400, 403, 404)
  async remove(@Param() params: ExperimentUserParamsDto, @CurrentUser() principal: Principal, @Req() req: FastifyRequest): Promise<void> {
    await this.grants.remove('experiment', params.experimentId, params.username, principal, req);
  }
}
