import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { Authenticated } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PROBLEM_CONTENT_TYPE } from '../common/problem';
import { ExchangeTokenFor } from '../token-exchange/exchange-token-for.decorator';
import { CurrentCaller, type BearerCaller } from '../token-exchange/upstream-caller';
import { MlAgentProblemDto } from './dto/ml-agent-problem.dto';
import { RunWorkflowRequestDto, WORKFLOW_RUN_SCHEMA, type WorkflowRunAnswer } from './dto/run-workflow.dto';
import { CatalogPathDto, SchemaPathDto } from './dto/trino-path.dto';
import { TrinoCatalogsDto, TrinoSchemasDto, TrinoTablesDto } from './dto/trino-listing.dto';
import { MlAgentService } from './ml-agent.service';

const CALL =
  'Needs a valid token. Forwarded to ML-Agent (ML_AGENT_URL) with the caller’s token exchanged for ML_AGENT_AUDIENCE ' +
  '(only with ML_AGENT_TOKEN_MODE=forward is the raw token forwarded; /health/ready then reports ml-agent as degraded). ' +
  'ML-Agent runs its Trino queries as the token’s user. ';
const ERRORS =
  ' Errors: ML-Agent’s own 4xx keep their status and come as problem+json with ML-Agent’s body in `upstreamBody` ' +
  '(reason not_found for a 404, upstream_error otherwise, e.g. 403 when Trino denies the user); ML-Agent failing, ' +
  'unreachable or not accepting the BFF’s token 502; no answer in time 504; ML_AGENT_URL not set 503.';

/** A status that may be a 4xx ML-Agent answered itself, passed through with its body (see MlAgentRefusal). */
const passedThrough = (status: number, description: string) =>
  ApiResponse({ status, description, content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(MlAgentProblemDto) } } } });
/** 403: the BFF's own refusals, or ML-Agent's passed through. */
const forbidden = () =>
  passedThrough(
    403,
    'Not allowed: the identity provider refused the exchange (token_exchange_denied), the token lacks a claim the route needs ' +
      '(claim_missing), or ML-Agent refused the caller, e.g. Trino denied the user (upstream_error, ML-Agent’s body in upstreamBody)',
  );

/** Catalog browsing and ML workflows over Trino tables, through ML-Agent (docs/ml-agent.md). */
@ApiTags('ml-agent')
@ApiExtraModels(MlAgentProblemDto)
@Controller('chatbot')
@ExchangeTokenFor((c) => ({ audience: c.mlAgent.audience, forwardRawToken: c.mlAgent.tokenMode === 'forward' }))
export class MlAgentController {
  constructor(private readonly mlAgent: MlAgentService) {}

  @Get('trino/catalogs')
  @Authenticated()
  @ApiOperation({ summary: 'List the Trino catalogs the caller may see', description: `${CALL}Upstream: GET /trino/catalogs.${ERRORS}` })
  @ApiOkResponse({ type: TrinoCatalogsDto, description: 'The catalogs Trino shows the caller' })
  @ApiProblems(400, 401, 502, 503, 504)
  @forbidden()
  @passedThrough(404, 'ML-Agent answered 404 (not_found; ML-Agent’s body in upstreamBody)')
  listCatalogs(@CurrentCaller() caller: BearerCaller): Promise<TrinoCatalogsDto> {
    return this.mlAgent.listCatalogs(caller);
  }

  @Get('trino/schemas/:catalog')
  @Authenticated()
  @ApiOperation({
    summary: 'List the schemas of a catalog',
    description: `${CALL}Upstream: GET /trino/schemas/{catalog}. The catalog must be a plain Trino identifier (else 400, not forwarded).${ERRORS}`,
  })
  @ApiOkResponse({ type: TrinoSchemasDto, description: 'The schemas of the catalog Trino shows the caller' })
  @ApiProblems(400, 401, 502, 503, 504)
  @forbidden()
  @passedThrough(404, 'No such catalog (not_found; ML-Agent’s body in upstreamBody)')
  listSchemas(@CurrentCaller() caller: BearerCaller, @Param() path: CatalogPathDto): Promise<TrinoSchemasDto> {
    return this.mlAgent.listSchemas(caller, path.catalog);
  }

  @Get('trino/tables/:catalog/:schema')
  @Authenticated()
  @ApiOperation({
    summary: 'List the tables of a schema',
    description: `${CALL}Upstream: GET /trino/tables/{catalog}/{schema}. Catalog and schema must be plain Trino identifiers (else 400, not forwarded).${ERRORS}`,
  })
  @ApiOkResponse({ type: TrinoTablesDto, description: 'The tables of the schema Trino shows the caller' })
  @ApiProblems(400, 401, 502, 503, 504)
  @forbidden()
  @passedThrough(404, 'No such catalog or schema (not_found; ML-Agent’s body in upstreamBody)')
  listTables(@CurrentCaller() caller: BearerCaller, @Param() path: SchemaPathDto): Promise<TrinoTablesDto> {
    return this.mlAgent.listTables(caller, path.catalog, path.schema);
  }

  @Post('run-workflow-trino')
  @HttpCode(200)
  @Authenticated()
  @ApiOperation({
    summary: 'Run an ML workflow on a Trino table',
    description:
      `${CALL}Upstream: POST /run-workflow-trino with the validated fields and the submitter from the verified token: ` +
      'a user’s `email`, or for a service account (client-credentials token, no email) ' +
      '`submittedBy: {"type": "service_account", "clientId": <azp>}` (an `email` in the request body is ignored and never ' +
      'forwarded; a token with neither is a 403 claim_missing). ' +
      `Catalog, schema and table must be plain Trino identifiers (else 400, not forwarded). ` +
      'ML-Agent’s 2xx answer is passed through as it is, whatever its field names: it must be a JSON object of at most 1 MiB ' +
      `(else 502).${ERRORS}`,
  })
  @ApiBody({ type: RunWorkflowRequestDto })
  @ApiOkResponse({ schema: WORKFLOW_RUN_SCHEMA, description: 'The run as ML-Agent accepted it: ML-Agent’s JSON object, passed through as it is' })
  @ApiProblems(400, 401, 502, 503, 504)
  @forbidden()
  @passedThrough(404, 'No such table (not_found; ML-Agent’s body in upstreamBody)')
  @passedThrough(422, 'ML-Agent refused the submission (upstream_error; ML-Agent’s validation errors in upstreamBody and errors)')
  runWorkflow(@CurrentCaller() caller: BearerCaller, @Body() body: RunWorkflowRequestDto): Promise<WorkflowRunAnswer> {
    return this.mlAgent.runWorkflow(caller, body);
  }
}
