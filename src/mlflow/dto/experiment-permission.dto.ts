import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, Matches } from 'class-validator';
import { MLFLOW_GRANTABLE, MLFLOW_PERMISSION_LEVELS, type MlflowPermissionLevel } from '../../config/app-config';
import type { ExperimentGrant } from '../mlflow-permission.service';

const EXPERIMENT_ID_MESSAGE = 'experimentId must be a numeric MLflow experiment id';
export const USERNAME = /^[\p{L}\p{N}._@+-]{1,255}$/u;
export const USERNAME_MESSAGE = 'username must be 1-255 letters, digits or ._@+-';

/** :experimentId */
export class ExperimentParamsDto {
  @ApiProperty({ example: '1', pattern: '^[0-9]{1,19}$' })
  @Matches(/^[0-9]{1,19}$/, { message: EXPERIMENT_ID_MESSAGE })
  experimentId!: string;
}

/** :experimentId/users/:username */
export class ExperimentUserParamsDto extends ExperimentParamsDto {
  @ApiProperty({ example: 'alice', description: 'The user’s preferred_username (service accounts: service-account-<client id>)' })
  @Matches(USERNAME, { message: USERNAME_MESSAGE })
  username!: string;
}

/** PUT body */
export class SetExperimentPermissionDto {
  @ApiProperty({ enum: MLFLOW_GRANTABLE, example: 'EDIT', description: 'READ: read; EDIT: + write runs, metrics, traces; MANAGE: + delete, manage grants' })
  @IsIn(MLFLOW_GRANTABLE, { message: `permission must be one of ${MLFLOW_GRANTABLE.join(', ')}` })
  permission!: (typeof MLFLOW_GRANTABLE)[number];
}

export class ExperimentGrantDto {
  @ApiProperty({ example: '1' })
  experimentId!: string;

  @ApiProperty({ example: 'alice' })
  username!: string;

  @ApiProperty({ enum: MLFLOW_GRANTABLE, example: 'EDIT' })
  permission!: MlflowPermissionLevel;

  @ApiProperty({ example: 'admin', description: 'Who granted it (the creator, for the MANAGE an experiment’s creator gets)' })
  grantedBy!: string;

  @ApiProperty({ example: '2025-01-01T12:00:00.000Z' })
  grantedAt!: string;

  static from(experimentId: string, g: ExperimentGrant): ExperimentGrantDto {
    return Object.assign(new ExperimentGrantDto(), { experimentId, username: g.username, permission: g.permission, grantedBy: g.grantedBy, grantedAt: g.grantedAt });
  }
}

export class ExperimentGrantsDto {
  @ApiProperty({ example: '1' })
  experimentId!: string;

  @ApiProperty({ type: [ExperimentGrantDto] })
  users!: ExperimentGrantDto[];
}

export class EffectivePermissionDto {
  @ApiProperty({ example: '1' })
  experimentId!: string;

  @ApiPropertyOptional({ example: 'alice' })
  username?: string;

  @ApiProperty({ enum: MLFLOW_PERMISSION_LEVELS, example: 'EDIT', description: 'What the caller may do: the higher of groupDefault and grant' })
  permission!: MlflowPermissionLevel;

  @ApiPropertyOptional({ enum: MLFLOW_GRANTABLE, description: 'The caller’s own grant on this experiment' })
  grant?: MlflowPermissionLevel;

  @ApiProperty({
    enum: MLFLOW_PERMISSION_LEVELS,
    example: 'EDIT',
    description: 'What the caller’s groups and roles give on every experiment (MLFLOW_GROUP_PERMISSIONS)',
  })
  groupDefault!: MlflowPermissionLevel;
}
