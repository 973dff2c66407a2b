import { Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ReadinessRegistry, httpReachable, type ReadinessCheck } from '../common/readiness.registry';
import { MlAgentController } from './ml-agent.controller';
import { ML_AGENT_TIMEOUT_MS, MlAgentClient } from './ml-agent.client';
import { MlAgentService } from './ml-agent.service';

/** The stable event name of the boot warning logged in ML_AGENT_TOKEN_MODE=forward. */
export const RAW_TOKEN_FORWARDING_EVENT = 'security.raw_token_forwarding';

export const RAW_TOKEN_FORWARDING_WARNING =
  'ML_AGENT_TOKEN_MODE=forward: the users’ raw tokens are forwarded to ML-Agent instead of tokens exchanged for its audience';

/**
 * /health/ready for ML-Agent: degraded (ready, with a warning) when it is unreachable, and always
 * degraded in forward mode, whose detail carries the security warning.
 */
export function mlAgentReadiness(url: string | undefined, tokenMode: AppConfig['mlAgent']['tokenMode']): ReadinessCheck {
  return async () => {
    const problems: string[] = [];
    if (tokenMode === 'forward') problems.push(`security warning: ${RAW_TOKEN_FORWARDING_WARNING}`);
    if (!url) problems.push('ML_AGENT_URL is not set');
    else if ((await httpReachable(url, 2000)).status !== 'up') problems.push('ML-Agent unreachable');
    return problems.length === 0 ? { status: 'up' } : { status: 'degraded', detail: problems.join('; ') };
  };
}

/**
 * ml-agent: GET /chatbot/trino/{catalogs,schemas,tables} and POST /chatbot/run-workflow-trino,
 * forwarded to ML-Agent with the caller's token exchanged for ML_AGENT_AUDIENCE. MlAgentClient is
 * the only thing that talks to ML-Agent.
 */
@Module({
  controllers: [MlAgentController],
  providers: [MlAgentClient, MlAgentService, { provide: ML_AGENT_TIMEOUT_MS, useFactory: (config: AppConfig) => config.mlAgent.timeoutMs, inject: [APP_CONFIG] }],
})
export class MlAgentModule implements OnModuleInit {
  private readonly log = new Logger('MlAgent');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    const { url, audience, tokenMode } = this.config.mlAgent;
    if (tokenMode === 'forward') {
      this.log.warn(
        {
          event: RAW_TOKEN_FORWARDING_EVENT,
          setting: 'ML_AGENT_TOKEN_MODE',
          mode: tokenMode,
          upstream: 'ml-agent',
          instead: `token exchange for ${this.config.workspaceId}-${audience}`,
        },
        RAW_TOKEN_FORWARDING_WARNING,
      );
    }
    if (url || tokenMode === 'forward') this.readiness.register('ml-agent', mlAgentReadiness(url, tokenMode));
  }
}
