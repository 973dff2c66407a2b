import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { AuditLog } from '../audit/audit-log.service';
import { Authenticated, CurrentUser } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../common/api-problems.decorator';
import { problem } from '../common/problem';
import {
  EffectivePermissionDto,
  ExperimentGrantDto,
  ExperimentGrantsDto,
  ExperimentParamsDto,
  ExperimentUserParamsDto,
  SetExperimentPermissionDto,
} from './dto/experiment-permission.dto';
import { MlflowPermissionService } from './mlflow-permission.service';
import { MlflowClient } from './mlflow.client';

/**
 * Per-experiment grants (READ, EDIT, MANAGE), managed by the experiment's MANAGE holders (its
 * creator, anyone granted MANAGE, and groups or roles whose MLFLOW_GROUP_PERMISSIONS default is
 * MANAGE). Bearer tokens only. Every change is an audit event.
 */
@ApiTags('mlflow-permissions')
@Controller('mlflow-permissions/experiments/:experimentId')
export class MlflowPermissionsController {
  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly client: MlflowClient,
    private readonly audit: AuditLog,
  ) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The caller’s own permission on an experiment, and where it comes from' })
  @ApiOkResponse({ type: EffectivePermissionDto })
  @ApiProblems(400)
  async mine(@Param() params: ExperimentParamsDto, @CurrentUser() principal: Principal): Promise<EffectivePermissionDto> {
    const effective = await this.permissions.effective(principal, params.experimentId);
    return Object.assign(new EffectivePermissionDto(), { experimentId: params.experimentId, username: principal.username, ...effective });
  }

  @Get('users')
  @Authenticated()
  @ApiOperation({ summary: 'The per-user grants on an experiment (MANAGE needed)' })
  @ApiOkResponse({ type: ExperimentGrantsDto })
  @ApiProblems(400, 403)
  async list(@Param() params: ExperimentParamsDto, @CurrentUser() principal: Principal): Promise<ExperimentGrantsDto> {
    await this.requireManage(principal, params.experimentId);
    const grants = await this.permissions.grants(params.experimentId);
    return { experimentId: params.experimentId, users: grants.map((g) => ExperimentGrantDto.from(params.experimentId, g)) };
  }

  @Get('users/:username')
  @Authenticated()
  @ApiOperation({ summary: 'One user’s grant on an experiment (MANAGE needed)' })
  @ApiOkResponse({ type: ExperimentGrantDto })
  @ApiProblems(400, 403, 404)
  async one(@Param() params: ExperimentUserParamsDto, @CurrentUser() principal: Principal): Promise<ExperimentGrantDto> {
    await this.requireManage(principal, params.experimentId);
    const grant = await this.permissions.grant(params.experimentId, params.username);
    if (!grant) throw problem.notFound(`${params.username} has no grant on experiment ${params.experimentId}`);
    return ExperimentGrantDto.from(params.experimentId, grant);
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
    await this.requireManage(principal, params.experimentId);
    if (!(await this.client.experimentExists(params.experimentId))) throw problem.notFound(`no experiment ${params.experimentId}`);
    const grant = await this.permissions.setGrant(params.experimentId, params.username, body.permission, principal.username ?? principal.subject);
    this.record('mlflow.permission.grant', principal, params, req, `${body.permission}`);
    return ExperimentGrantDto.from(params.experimentId, grant);
  }

  @Delete('users/:username')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a user’s grant on an experiment (MANAGE needed)' })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiProblems(400, 403, 404)
  async remove(@Param() params: ExperimentUserParamsDto, @CurrentUser() principal: Principal, @Req() req: FastifyRequest): Promise<void> {
    await this.requireManage(principal, params.experimentId);
    if (!(await this.permissions.removeGrant(params.experimentId, params.username))) {
      throw problem.notFound(`${params.username} has no grant on experiment ${params.experimentId}`);
    }
    this.record('mlflow.permission.revoke', principal, params, req);
  }

  private async requireManage(principal: Principal, experimentId: string): Promise<void> {
    if (!(await this.permissions.can(principal, experimentId, 'MANAGE'))) {
      throw problem.forbidden('insufficient_role', `MANAGE on experiment ${experimentId} is needed`);
    }
  }

  private record(action: string, principal: Principal, params: ExperimentUserParamsDto, req: FastifyRequest, permission?: string): void {
    this.audit.record({
      action,
      actor: { via: 'bearer', subject: principal.subject, username: principal.username },
      target: `experiment/${params.experimentId}/user/${params.username}${permission ? `=${permission}` : ''}`,
      outcome: 'success',
      requestId: String(req.id),
    });
  }
}
