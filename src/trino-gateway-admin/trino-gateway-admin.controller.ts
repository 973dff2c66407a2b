import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ADMIN_POLICY } from '../auth/access-policy';
import { AllowBreakGlass, Authenticated } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { ExchangeTokenFor } from '../token-exchange/exchange-token-for.decorator';
import { CurrentCaller, type UpstreamCaller } from '../token-exchange/upstream-caller';
import { ClusterNameParamsDto, DeleteBackendDto, GatewayBackendActionDto, GatewayBackendDto, GatewayBackendInputDto } from './dto/gateway-backend.dto';
import { RoutingRuleDto, RoutingRuleInputDto } from './dto/routing-rule.dto';
import { TrinoGatewayAdminService } from './trino-gateway-admin.service';

export const BREAK_GLASS_SCOPE = 'trino-gateway-admin';

const READ = 'Needs a valid token. Forwarded to the Trino Gateway with the caller’s token exchanged for TRINO_GATEWAY_AUDIENCE. ';
const WRITE = 'Needs the ADMIN role; an audit event. Forwarded to the Trino Gateway with the caller’s token exchanged for TRINO_GATEWAY_AUDIENCE. ';
const BREAK_GLASS =
  'Break-glass: when BREAK_GLASS_USERS is set, HTTP Basic with a break-glass user is accepted instead of a token, ' +
  'only while Keycloak is unreachable (audited at level alert).';

/** The Trino Gateway's cluster (backend) and routing-rule administration (README: Routes; the gateway's API in trino-gateway.client.ts). */
@ApiTags('trino-gateway')
@Controller('trino')
@ExchangeTokenFor((config) => config.trinoGateway.audience)
@AllowBreakGlass(BREAK_GLASS_SCOPE)
export class TrinoGatewayAdminController {
  constructor(private readonly admin: TrinoGatewayAdminService) {}

  @Get('gateway/backend/all')
  @Authenticated()
  @ApiOperation({ summary: 'List every backend', description: `${READ}Upstream: GET /gateway/backend/all. ${BREAK_GLASS}` })
  @ApiOkResponse({ type: GatewayBackendDto, isArray: true })
  @ApiProblems(502, 504)
  listBackends(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return this.admin.listBackends(caller);
  }

  @Get('gateway/backend/active')
  @Authenticated()
  @ApiOperation({ summary: 'List the active backends', description: `${READ}Upstream: GET /gateway/backend/active. ${BREAK_GLASS}` })
  @ApiOkResponse({ type: GatewayBackendDto, isArray: true })
  @ApiProblems(502, 504)
  listActiveBackends(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return this.admin.listActiveBackends(caller);
  }

  @Post('gateway/backend/modify/add')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({
    summary: 'Add a backend',
    description: `${WRITE}Upstream: POST /gateway/backend/modify/add. Absent fields take the gateway’s defaults (active true, routingGroup adhoc, externalUrl = proxyTo). 409 when the name exists. ${BREAK_GLASS}`,
  })
  @ApiBody({ type: GatewayBackendInputDto })
  @ApiOkResponse({ type: GatewayBackendDto, description: 'The backend as the gateway stored it' })
  @ApiProblems(400, 409, 502, 504)
  addBackend(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Body() body: GatewayBackendInputDto): Promise<GatewayBackendDto> {
    return this.admin.addBackend(caller, body);
  }

  @Post('gateway/backend/modify/update')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({
    summary: 'Update a backend',
    description: `${WRITE}Upstream: POST /gateway/backend/modify/update (the gateway creates the backend when the name is unknown). ${BREAK_GLASS}`,
  })
  @ApiBody({ type: GatewayBackendInputDto })
  @ApiOkResponse({ type: GatewayBackendDto, description: 'The backend as the gateway stored it' })
  @ApiProblems(400, 502, 504)
  updateBackend(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Body() body: GatewayBackendInputDto): Promise<GatewayBackendDto> {
    return this.admin.updateBackend(caller, body);
  }

  @Post('gateway/backend/modify/delete')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({
    summary: 'Delete a backend',
    description: `${WRITE}Upstream: POST /gateway/backend/modify/delete with the raw backend name as the body. 404 when there is no such backend. ${BREAK_GLASS}`,
  })
  @ApiBody({ type: DeleteBackendDto })
  @ApiOkResponse({ type: GatewayBackendActionDto })
  @ApiProblems(400, 404, 502, 504)
  deleteBackend(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Body() body: DeleteBackendDto): Promise<GatewayBackendActionDto> {
    return this.admin.deleteBackend(caller, body.name);
  }

  @Post('gateway/backend/activate/:clusterName')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({ summary: 'Activate a backend', description: `${WRITE}Upstream: POST /gateway/backend/activate/{name}. ${BREAK_GLASS}` })
  @ApiParam({ name: 'clusterName', example: 'trino-etl-1' })
  @ApiOkResponse({ type: GatewayBackendActionDto })
  @ApiProblems(400, 404, 502, 504)
  activate(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Param() params: ClusterNameParamsDto): Promise<GatewayBackendActionDto> {
    return this.admin.setActive(caller, params.clusterName, true);
  }

  @Post('gateway/backend/deactivate/:clusterName')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({ summary: 'Deactivate a backend', description: `${WRITE}Upstream: POST /gateway/backend/deactivate/{name}. ${BREAK_GLASS}` })
  @ApiParam({ name: 'clusterName', example: 'trino-adhoc-1' })
  @ApiOkResponse({ type: GatewayBackendActionDto })
  @ApiProblems(400, 404, 502, 504)
  deactivate(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Param() params: ClusterNameParamsDto): Promise<GatewayBackendActionDto> {
    return this.admin.setActive(caller, params.clusterName, false);
  }

  @Post('webapp/updateRoutingRules')
  @HttpCode(200)
  @Authenticated({ policy: ADMIN_POLICY })
  @ApiOperation({
    summary: 'Replace a routing rule (matched by name)',
    description:
      `${WRITE}Upstream: POST /webapp/updateRoutingRules; the gateway’s {code, msg, data} envelope is unwrapped. ` +
      `Answers every rule. 404 when no rule has that name; 409 when the gateway’s rules are not file-based. ${BREAK_GLASS}`,
  })
  @ApiBody({ type: RoutingRuleInputDto })
  @ApiOkResponse({ type: RoutingRuleDto, isArray: true })
  @ApiProblems(400, 404, 409, 502, 504)
  updateRoutingRules(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller, @Body() body: RoutingRuleInputDto): Promise<RoutingRuleDto[]> {
    return this.admin.updateRoutingRule(caller, body);
  }

  @Get('webapp/getRoutingRules')
  @Authenticated()
  @ApiOperation({
    summary: 'List the routing rules',
    description:
      `${READ}Upstream: GET /webapp/getRoutingRules; the envelope is unwrapped. The gateway itself requires its ADMIN ` +
      `privilege here: a caller without it gets 403. 409 when the gateway’s rules are not file-based. ${BREAK_GLASS}`,
  })
  @ApiOkResponse({ type: RoutingRuleDto, isArray: true })
  @ApiProblems(409, 502, 504)
  getRoutingRules(@CurrentCaller('bearer-or-break-glass') caller: UpstreamCaller): Promise<RoutingRuleDto[]> {
    return this.admin.getRoutingRules(caller);
  }
}
