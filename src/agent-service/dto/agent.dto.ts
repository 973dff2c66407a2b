import { EXAMPLE_AGENT_ID } from '../../common/openapi-examples';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AgentRecord } from '../agent.model';
import { AgentSettingsDto } from './agent-settings.dto';

export class AgentOwnerDto {
  @ApiProperty({ example: '7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11', description: 'sub of the creator' }) subject!: string;
  @ApiPropertyOptional({ example: 'alice', description: 'preferred_username at creation (display only)' }) username?: string;
}

/** An agent, as its owner (or an ADMIN) sees it. */
export class AgentDto {
  @ApiProperty({ example: EXAMPLE_AGENT_ID, format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'Sales analyst' }) name!: string;
  @ApiPropertyOptional({ example: 'Answers questions about the sales schema' }) description?: string;
  @ApiProperty({ type: AgentOwnerDto }) owner!: AgentOwnerDto;
  @ApiProperty({ type: AgentSettingsDto }) settings!: AgentSettingsDto;
  @ApiProperty({ example: '2026-11-24T09:00:00.000Z' }) createdAt!: string;
  @ApiProperty({ example: '2026-11-24T09:05:00.000Z' }) updatedAt!: string;

  static from(a: AgentRecord): AgentDto {
    const dto: AgentDto = {
      id: a.id,
      name: a.name,
      owner: { subject: a.owner, username: a.ownerName },
      settings: { ...a.settings },
      createdAt: a.createdAt,
      updatedAt: a.updatedAt,
    };
    if (a.description !== undefined) dto.description = a.description;
    return dto;
  }
}

export class AgentModelsDto {
  @ApiProperty({ example: ['sandbox-chat', 'sandbox-chat-mini'], type: [String], description: 'Models an agent may use (AGENT_MODELS)' })
  models!: string[];
  @ApiProperty({ example: 'sandbox-chat', description: 'The model a new agent gets when it names none' })
  default!: string;
}
