import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { EXAMPLE_REGISTERED_MODEL } from '../../common/openapi-examples';
import { MLFLOW_GRANTABLE, MLFLOW_PERMISSION_LEVELS, type MlflowPermissionLevel } from '../../config/app-config';
import { REGISTERED_MODEL_NAME } from '../mlflow-endpoints';
import type { ExperimentGrant } from '../mlflow-permission.service';
import { USERNAME, USERNAME_MESSAGE } from './experiment-permission.dto';

/** :name */
export class RegisteredModelParamsDto {
  @ApiProperty({ example: EXAMPLE_REGISTERED_MODEL, description: 'The registered model’s name (prompts are registered models too)' })
  @Matches(REGISTERED_MODEL_NAME, { message: 'name must be a registered model name: 1-256 characters, no / or :' })
  name!: string;
}

/** :name/users/:username */
export class RegisteredModelUserParamsDto extends RegisteredModelParamsDto {
  @ApiProperty({ example: 'alice', description: 'The user’s preferred_username (service accounts: service-account-<client id>)' })
  @Matches(USERNAME, { message: USERNAME_MESSAGE })
  username!: string;
}

export class RegisteredModelGrantDto {
  @ApiProperty({ example: EXAMPLE_REGISTERED_MODEL })
  name!: string;

  @ApiProperty({ example: 'alice' })
  username!: string;

  @ApiProperty({ enum: MLFLOW_GRANTABLE, example: 'EDIT' })
  permission!: MlflowPermissionLevel;

  @ApiProperty({ example: 'admin', description: 'Who granted it (the creator, for the MANAGE a registered model’s creator gets)' })
  grantedBy!: string;

  @ApiProperty({ example: '2025-01-01T12:00:00.000Z' })
  grantedAt!: string;

  static from(name: string, g: ExperimentGrant): RegisteredModelGrantDto {
    return Object.assign(new RegisteredModelGrantDto(), { name, username: g.username, permission: g.permission, grantedBy: g.grantedBy, grantedAt: g.grantedAt });
  }
}

export class RegisteredModelGrantsDto {
  @ApiProperty({ example: EXAMPLE_REGISTERED_MODEL })
  name!: string;

  @ApiProperty({ type: [RegisteredModelGrantDto] })
  users!: RegisteredModelGrantDto[];
}

export class RegisteredModelEffectiveDto {
  @ApiProperty({ example: EXAMPLE_REGISTERED_MODEL })
  name!: string;

  @ApiPropertyOptional({ example: 'alice' })
  username?: string;

  @ApiProperty({ enum: MLFLOW_PERMISSION_LEVELS, example: 'EDIT', description: 'What the caller may do: the higher of groupDefault and grant' })
  permission!: MlflowPermissionLevel;

  @ApiPropertyOptional({ enum: MLFLOW_GRANTABLE, description: 'The caller’s own grant on this registered model' })
  grant?: MlflowPermissionLevel;

  @ApiProperty({
    enum: MLFLOW_PERMISSION_LEVELS,
    example: 'EDIT',
    description: 'What the caller’s groups and roles give on every experiment and registered model (MLFLOW_GROUP_PERMISSIONS)',
  })
  groupDefault!: MlflowPermissionLevel;
}
