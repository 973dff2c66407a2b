import { Injectable } from '@nestjs/common';
import type { BearerCaller } from '../token-exchange/upstream-caller';
import type { RunWorkflowRequestDto, WorkflowRunAnswer } from './dto/run-workflow.dto';
import type { TrinoCatalogsDto, TrinoSchemasDto, TrinoTablesDto } from './dto/trino-listing.dto';
import { MlAgentClient, type MlAgentCall } from './ml-agent.client';
import { workflowSubmitter } from './workflow-submitter';

/**
 * The ML-Agent routes. Every call carries the caller's token for ML-Agent's audience, as the controller's
 * @ExchangeTokenFor decides it: exchanged (RFC 8693, cached) for `${WORKSPACE_ID}-${ML_AGENT_AUDIENCE}` — or, only
 * with ML_AGENT_TOKEN_MODE=forward, the caller's raw token. The exchange runs after input validation (the pipes)
 * and after the configuration check, so neither a bad identifier nor a missing ML_AGENT_URL costs a call to the
 * identity provider: the client resolves the credential as it sends.
 */
@Injectable()
export class MlAgentService {
  constructor(private readonly client: MlAgentClient) {}

  async listCatalogs(caller: BearerCaller): Promise<TrinoCatalogsDto> {
    return this.client.listCatalogs(this.callFor(caller));
  }

  async listSchemas(caller: BearerCaller, catalog: string): Promise<TrinoSchemasDto> {
    return this.client.listSchemas(this.callFor(caller), catalog);
  }

  async listTables(caller: BearerCaller, catalog: string, schema: string): Promise<TrinoTablesDto> {
    return this.client.listTables(this.callFor(caller), catalog, schema);
  }

  /**
   * Submits a workflow as the caller: the validated fields, named one by one (a client `email`
   * never travels), plus the submitter from the verified token (workflowSubmitter): a user's email,
   * or a service account's client id. A token with neither is a 403 claim_missing, before any exchange.
   */
  async runWorkflow(caller: BearerCaller, request: RunWorkflowRequestDto): Promise<WorkflowRunAnswer> {
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

  private callFor(caller: BearerCaller): MlAgentCall {
    return { credential: caller.token, requestId: caller.requestId };
  }
}
