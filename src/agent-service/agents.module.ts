import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AgentGateway } from './agent.gateway';
import { AgentsController } from './agents.controller';
import { AgentsService } from './agents.service';
import { LlmProvider } from './llm-provider';
import { QuotaService } from './quota.service';

/**
 * agent-service: agents (REST), their conversation WebSocket (AgentGateway) and the LLM provider
 * behind it. Config, metrics and the StateStore come from the global modules; WsTicketService from
 * AuthModule (tickets are credentials that /api/auth checks too).
 */
@Module({
  imports: [AuthModule],
  controllers: [AgentsController],
  providers: [AgentsService, LlmProvider, QuotaService, AgentGateway],
  exports: [AgentsService, AgentGateway],
})
export class AgentsModule {}
