import { IntersectionType } from '@nestjs/swagger';
import { AgentSettingsInputDto } from './agent-settings.dto';
import { LegacyUserTokenDto } from './legacy-user-token';

/** PATCH /api/agents/:id/settings: the settings to change (at least one); the others keep their value. */
export class UpdateAgentSettingsDto extends IntersectionType(AgentSettingsInputDto, LegacyUserTokenDto) {}
