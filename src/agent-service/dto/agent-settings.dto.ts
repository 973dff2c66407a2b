import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsNumber, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';
import { SETTINGS_BOUNDS, type AgentSettings } from '../agent.model';

const T = SETTINGS_BOUNDS.temperature;
const M = SETTINGS_BOUNDS.maxTokens;

/**
 * Settings as a client sends them (create, PATCH): every field optional, unknown keys refused
 * (the global ValidationPipe forbids non-whitelisted properties). `model` is checked against
 * config.llm.models by the service, which knows the configuration.
 */
export class AgentSettingsInputDto {
  @ApiPropertyOptional({ example: 'sandbox-chat', description: 'One of GET /api/agents/models' })
  @IsOptionalNotNull()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  model?: string;

  @ApiPropertyOptional({ example: 0.7, minimum: T.min, maximum: T.max })
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(T.min)
  @Max(T.max)
  temperature?: number;

  @ApiPropertyOptional({ example: 'You are a concise data-platform assistant.', maxLength: SETTINGS_BOUNDS.systemPromptMaxLength })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(SETTINGS_BOUNDS.systemPromptMaxLength)
  systemPrompt?: string;

  @ApiPropertyOptional({ type: 'integer', example: 1024, minimum: M.min, maximum: M.max, description: 'Upper bound of completion tokens per turn' })
  @IsOptionalNotNull()
  @IsInt()
  @Min(M.min)
  @Max(M.max)
  maxTokens?: number;
}

/** Settings as the BFF answers them: every field present. */
export class AgentSettingsDto implements AgentSettings {
  @ApiProperty({ example: 'sandbox-chat' }) model!: string;
  @ApiProperty({ example: 0.7, minimum: T.min, maximum: T.max }) temperature!: number;
  @ApiProperty({ example: 'You are a concise data-platform assistant.' }) systemPrompt!: string;
  @ApiProperty({ type: 'integer', example: 1024, minimum: M.min, maximum: M.max }) maxTokens!: number;
}
