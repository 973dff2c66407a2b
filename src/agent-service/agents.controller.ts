import { EXAMPLE_AGENT_ID } from '../common/openapi-examples';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AGENTS_POLICY } from '../auth/access-policy';
import { Authenticated, CurrentUser } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../common/api-problems.decorator';
import { AgentIdPipe } from './agent-id.pipe';
import { AgentsService } from './agents.service';
import { AgentDto, AgentModelsDto } from './dto/agent.dto';
import { CreateAgentDto } from './dto/create-agent.dto';
import { UpdateAgentSettingsDto } from './dto/update-agent-settings.dto';
import { CreateWsTicketDto, WsTicketDto } from './dto/ws-ticket.dto';
import { checkLegacyUserToken, RequestToken } from './request-token';
import { CLOSE, MAX_FRAME_BYTES, MAX_MESSAGE_CHARS } from './ws-protocol';
import { WS_TICKET_TTL_S, WsTicketService } from '../auth/ws-ticket.service';

const ID_PARAM = { name: 'id', description: 'Agent id', example: EXAMPLE_AGENT_ID, format: 'uuid' } as const;

const WEBSOCKET_DOC = `
**The conversation WebSocket: \`GET /api/agents/{id}/react\` (Upgrade: websocket).**

Credentials, exactly one of: \`?ticket=<ticket from this route>\` (single use, ${WS_TICKET_TTL_S} s; keeps the JWT out of URLs and proxy logs),
\`Authorization: Bearer <token>\` on the upgrade request, or \`?access-token=<token>\`.
The upgrade is checked before the 101 with the same rule as these routes (REGULAR or ADMIN; the agent must be yours unless you are ADMIN)
and refused with a problem+json HTTP answer: 401 (no/invalid/expired token or ticket), 403 (role, or an Origin not in WS_ALLOWED_ORIGINS —
same-origin and CORS_ORIGINS when unset), 404 (no such agent, or not yours), 400 (malformed id, or two credentials).

Frames are JSON text, at most ${MAX_FRAME_BYTES / 1024} KiB:
- client → server \`{"type":"user_message","content":"…"}\` (1–${MAX_MESSAGE_CHARS} characters; one turn at a time);
- server → client \`{"type":"delta","content":"…"}\` as the answer streams, then \`{"type":"done","usage":{"prompt_tokens":n,"completion_tokens":n,"total_tokens":n}}\`;
- \`{"type":"error","reason":"…","detail":"…"}\` when a frame is refused (\`validation_failed\`, \`conflict\`) or the LLM provider fails
  (\`upstream_unavailable\`, \`upstream_timeout\`, \`upstream_error\`); the session stays open.

Close codes: ${CLOSE.tokenExpired} when the token expires (reconnect with a fresh one), ${CLOSE.quotaSpent} when the daily token quota
(AGENT_TOKEN_QUOTA per user per UTC day) is spent, ${CLOSE.agentGone} when the agent was deleted, ${CLOSE.goingAway} on server shutdown,
1009 for a frame over the size cap.`;

/**
 * Agents and their settings (README: Routes, agent-service). Every route, like /api/auth for gateways,
 * applies AGENTS_POLICY (REGULAR or ADMIN); an agent is its creator's, others get 404, ADMIN sees all.
 */
@ApiTags('agents')
@Controller('api/agents')
@Authenticated({ policy: AGENTS_POLICY })
export class AgentsController {
  constructor(
    private readonly agents: AgentsService,
    private readonly tickets: WsTicketService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create an agent', description: 'The caller becomes its owner. Settings default to the first model of GET /api/agents/models.' })
  @ApiBody({ type: CreateAgentDto })
  @ApiCreatedResponse({ type: AgentDto })
  @ApiProblems(400, 409)
  async create(@CurrentUser() principal: Principal, @RequestToken() token: string, @Body() body: CreateAgentDto): Promise<AgentDto> {
    checkLegacyUserToken(body.userToken, token);
    return AgentDto.from(await this.agents.create(principal, body));
  }

  @Get()
  @ApiOperation({ summary: 'List agents', description: 'The caller’s own agents; every agent for ADMIN. Oldest first.' })
  @ApiOkResponse({ type: [AgentDto] })
  async list(@CurrentUser() principal: Principal): Promise<AgentDto[]> {
    return (await this.agents.list(principal)).map(AgentDto.from);
  }

  @Get('models')
  @ApiOperation({ summary: 'Models an agent may use', description: 'From the configuration (AGENT_MODELS), served by the LLM provider.' })
  @ApiOkResponse({ type: AgentModelsDto })
  models(): AgentModelsDto {
    return this.agents.models();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One agent' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: AgentDto })
  @ApiProblems(400, 404)
  async get(@CurrentUser() principal: Principal, @Param('id', AgentIdPipe) id: string): Promise<AgentDto> {
    return AgentDto.from(await this.agents.get(principal, id));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an agent', description: 'Open sessions of the agent end with close code 4404 at their next turn.' })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404)
  async remove(@CurrentUser() principal: Principal, @Param('id', AgentIdPipe) id: string): Promise<void> {
    await this.agents.remove(principal, id);
  }

  @Patch(':id/settings')
  @ApiOperation({
    summary: 'Change an agent’s settings',
    description: 'Only the named settings change; unknown keys are refused (400). Open sessions use the new settings from their next turn.',
  })
  @ApiParam(ID_PARAM)
  @ApiBody({ type: UpdateAgentSettingsDto })
  @ApiOkResponse({ type: AgentDto })
  @ApiProblems(400, 404)
  async updateSettings(
    @CurrentUser() principal: Principal,
    @RequestToken() token: string,
    @Param('id', AgentIdPipe) id: string,
    @Body() body: UpdateAgentSettingsDto,
  ): Promise<AgentDto> {
    checkLegacyUserToken(body.userToken, token);
    return AgentDto.from(await this.agents.updateSettings(principal, id, body));
  }

  @Post(':id/ws-ticket')
  @ApiOperation({ summary: `Single-use ${WS_TICKET_TTL_S} s ticket for the agent’s conversation WebSocket`, description: WEBSOCKET_DOC })
  @ApiParam(ID_PARAM)
  @ApiBody({ type: CreateWsTicketDto, required: false })
  @ApiCreatedResponse({ type: WsTicketDto })
  @ApiProblems(400, 404)
  async wsTicket(
    @CurrentUser() principal: Principal,
    @RequestToken() token: string,
    @Param('id', AgentIdPipe) id: string,
    @Body() body: CreateWsTicketDto,
  ): Promise<WsTicketDto> {
    checkLegacyUserToken(body?.userToken, token);
    const agent = await this.agents.get(principal, id);
    const { ticket, expiresAt } = await this.tickets.issue(agent.id, token);
    return {
      ticket,
      expiresAt: expiresAt.toISOString(),
      expiresInS: WS_TICKET_TTL_S,
      url: `/api/agents/${agent.id}/react?ticket=${ticket}`,
    };
  }
}
