import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { lazyExchangedToken } from '../token-exchange/exchange-context';
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
 * ML_AGENT_URL costs a call to the identity provider: the client resolves the credential as it sends.
 */
@Injectable()
export class MlAgentService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly client: MlAgentClient,
    private readonly exchange: TokenExchangeService,
  ) {}

  async listCatalogs(caller: MlAgentCaller): Promise<TrinoCatalogsDto> {
    return this.client.listCatalogs(this.callFor(caller));
  }

  async listSchemas(caller: MlAgentCaller, catalog: string): Promise<TrinoSchemasDto> {
    return this.client.listSchemas(this.callFor(caller), catalog);
  }

  async listTables(caller: MlAgentCaller, catalog: string, schema: string): Promise<TrinoTablesDto> {
    return this.client.listTables(this.callFor(caller), catalog, schema);
  }

  /**
   * Submits a workflow as the caller: the validated fields, named one by one (a client `email`
   * never travels), plus the submitter from the verified token (workflowSubmitter): a user's email,
   * or a service account's client id. A token with neither is a 403 claim_missing, before any exchange.
   */
  async runWorkflow(caller: MlAgentCaller, request: RunWorkflowRequestDto): Promise<WorkflowRunAnswer> {
    this.client.assertConfigured();
    const submitter = workflowSubmitter(caller.principal);
    return this.client.runWorkflow(this.callFor(caller), {
      catalog: request.catalog,
      schema: request.schema,
      table: request.table,
      workflow: request.workflow,
      parameters: request.parameters ?? {},
      ...submitter,
    });
  }

  /**
   * The call's credential, resolved by the client as it sends: the caller's token exchanged for ML-Agent's audience
   * (403 token_exchange_denied / 503 identity_provider_unavailable), or the raw token in forward mode.
   */
  private callFor(caller: MlAgentCaller): MlAgentCall {
    const { audience, tokenMode } = this.config.mlAgent;
    const credential =
      tokenMode === 'forward'
        ? { get: () => Promise.resolve(caller.subjectToken) }
        : lazyExchangedToken(audience, () => this.exchange.exchangeFor(audience, caller.subjectToken, caller.principal));
    return { credential, requestId: caller.requestId };
  }
}
