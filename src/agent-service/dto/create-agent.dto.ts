import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsString, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';
import { AGENT_DESCRIPTION_MAX_LENGTH, AGENT_NAME_MAX_LENGTH } from '../agent.model';
import { AgentSettingsInputDto } from './agent-settings.dto';
import { LegacyUserTokenDto } from './legacy-user-token';

/** POST /api/agents */
export class CreateAgentDto extends LegacyUserTokenDto {
  @ApiProperty({ example: 'Sales analyst', minLength: 1, maxLength: AGENT_NAME_MAX_LENGTH })
  @IsString()
  @MinLength(1)
  @MaxLength(AGENT_NAME_MAX_LENGTH)
  name!: string;

  @ApiPropertyOptional({ example: 'Answers questions about the sales schema', maxLength: AGENT_DESCRIPTION_MAX_LENGTH })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(AGENT_DESCRIPTION_MAX_LENGTH)
  description?: string;

  @ApiPropertyOptional({ type: AgentSettingsInputDto, description: 'Defaults: the first model, temperature 0.7, no system prompt, 1024 max tokens' })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => AgentSettingsInputDto)
  settings?: AgentSettingsInputDto;
}
