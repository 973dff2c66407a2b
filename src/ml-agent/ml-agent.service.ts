import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { TokenExchangeService } from '../token-exchange/token-exchange.service';
import type { RunWorkflowRequestDto, WorkflowRunAnswer } from './dto/run-workflow.dto';
import type { TrinoCatalogsDto, TrinoSchemasDto, TrinoTablesDto } from './dto/trino-listing.dto';
import type { MlAgentCaller } from './ml-agent-caller';
import { MlAgentClient, type MlAgentCall } from './ml-agent.client';
import { workflowSubmitter } from './workflow-submitter';

/**
 * The ML-Agent routes. Every call carries a token for ML-Agent's audience: the caller's token
 * exchanged (RFC 8693, cached) for `${WORKSPACE_ID}-${ML_AGENT_AUDIENCE}` — or, only with
 * ML_AGENT_TOKEN_MODE=forward, the caller's raw token. The exchange runs after input validation
 * (the pipes) and after the configuration check, so neither a bad identifier nor a missing
 * ML_AGENT_URL costs a call to the identity provider.
 */
@Injectable()
export class MlAgentService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly client: MlAgentClient,
    private readonly exchange: TokenExchangeService,
  ) {}

  async listCatalogs(caller: MlAgentCaller): Promise<TrinoCatalogsDto> {
    return this.client.listCatalogs(await this.callFor(caller));
  }

  async listSchemas(caller: MlAgentCaller, catalog: string): Promise<TrinoSchemasDto> {
    return this.client.listSchemas(await this.callFor(caller), catalog);
  }

  async listTables(caller: MlAgentCaller, catalog: string, schema: string): Promise<TrinoTablesDto> {
    return this.client.listTables(await this.callFor(caller), catalog, schema);
  }

  /**
   * Submits a workflow as the caller: the validated fields, named one by one (a client `email`
   * never travels), plus the submitter from the verified token (workflowSubmitter): a user's email,
   * or a service account's client id. A token with neither is a 403 claim_missing, before any exchange.
   */
  async runWorkflow(caller: MlAgentCaller, request: RunWorkflowRequestDto): Promise<WorkflowRunAnswer> {
    this.client.assertConfigured();
    const submitter = workflowSubmitter(caller.principal);
    const call = await this.callFor(caller);
    return this.client.runWorkflow(call, {
      catalog: request.catalog,
      schema: request.schema,
      table: request.table,
      workflow: request.workflow,
      parameters: request.parameters ?? {},
      ...submitter,
    });
  }

  private async callFor(caller: MlAgentCaller): Promise<MlAgentCall> {
    this.client.assertConfigured();
    return { bearer: await this.bearerFor(caller), requestId: caller.requestId };
  }

  /** The token ML-Agent gets: exchanged for its audience (403 token_exchange_denied / 503 identity_provider_unavailable), or raw in forward mode. */
  private bearerFor(caller: MlAgentCaller): Promise<string> {
    const { audience, tokenMode } = this.config.mlAgent;
    if (tokenMode === 'forward') return Promise.resolve(caller.subjectToken);
    return this.exchange.exchangeFor(audience, caller.subjectToken, caller.principal);
  }
}
