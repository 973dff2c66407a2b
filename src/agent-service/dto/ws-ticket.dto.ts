import { EXAMPLE_AGENT_ID } from '../../common/openapi-examples';
import { ApiProperty } from '@nestjs/swagger';
import { LegacyUserTokenDto } from './legacy-user-token';

/** POST /api/agents/:id/ws-ticket (the body is optional). */
export class CreateWsTicketDto extends LegacyUserTokenDto {}

export class WsTicketDto {
  @ApiProperty({ example: 'q3Vb0F1c8Yk2m4T6x9Z1aB3dE5gH7jK9LmN0pQ2rS4u', description: 'Single-use; pass it as ?ticket= on the WebSocket upgrade' })
  ticket!: string;
  @ApiProperty({ example: '2026-11-24T09:00:30.000Z', description: 'The ticket is refused after this instant (30 s)' })
  expiresAt!: string;
  @ApiProperty({ type: 'integer', example: 30 }) expiresInS!: number;
  @ApiProperty({
    example: `/api/agents/${EXAMPLE_AGENT_ID}/react?ticket=q3Vb0F1c8Yk2m4T6x9Z1aB3dE5gH7jK9LmN0pQ2rS4u`,
    description: 'Path and query of the WebSocket to open with this ticket (same host as this API)',
  })
  url!: string;
}
