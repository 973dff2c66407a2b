import { All, Controller, Get, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BEARER_SCHEME, SelfAuthorizing } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { asMlflowError } from './mlflow-errors';
import { MlflowProxyService } from './mlflow-proxy.service';
import { MLFLOW_MOUNT } from './mlflow-target';

const PROXY_DOC =
  'Everything under /mlflow/ is MLflow (MLFLOW_URL), behind the BFF’s authentication and experiment permissions. ' +
  'Callers: a bearer token (users, and service accounts with client credentials: CI, the OTEL collector), or the ' +
  'browser session of /auth/login (page loads without one are redirected there; requests with a session cookie that ' +
  'change state must come from this origin). Paths are matched exactly, by method and normalised path:\n\n' +
  '- `MLFLOW_PUBLIC_PATHS` (e.g. `GET /health`, `GET /version`): open;\n' +
  '- the UI (`/`, `/static-files/**`): any authenticated caller, GET/HEAD;\n' +
  '- REST `/api/2.0/mlflow/**`, the UI’s `/ajax-api/2.0/mlflow/**`, `/api/2.0/mlflow-artifacts/artifacts/{experiment}/**`, ' +
  '`/get-artifact`, MLflow 3’s logged models (`logged-models/**`, `runs/outputs`): the experiment permission the endpoint needs ' +
  '(READ to read, EDIT to write, MANAGE to delete), found from `experiment_id`, the run (`run_id`), the logged model or the name; ' +
  'the model registry (`registered-models/**`, `model-versions/**`, `/model-versions/get-artifact`; prompts too): the registered ' +
  'model’s permission, by `name`; `POST /graphql`: the UI’s GraphQL, decided per field (mlflowGetExperiment, mlflowGetRun, ' +
  'mlflowSearchRuns, mlflowGetMetricHistoryBulkInterval, mlflowListArtifacts: READ on what each names; one query operation, no ' +
  'introspection, aliases or fragments; MLflow gets a document and variables the BFF rebuilt); dataset searches ' +
  '(`experiments/search-datasets`, `/ajax-api/3.0/mlflow/datasets/search`): narrowed to the readable experiments; answered by the BFF ' +
  'itself, never forwarded: `users/current` (the caller, in MLflow’s basic-auth shape), `gateway-proxy` (no AI gateway) and ' +
  '`assistant/config` and `assistant/providers` (no assistant provider; the rest of the assistant is refused); searches return only what the caller may read, in full pages (refilled from MLflow’s next pages); runs are created ' +
  'with `mlflow.user` = the caller; the creator of an experiment gets MANAGE; other endpoints are refused. A REST request is ' +
  'read as MLflow reads it (a field spelled `experiment_id` or `experimentId`) into the fields its endpoint takes, and MLflow ' +
  'gets a body or query rebuilt from those fields alone; a field given twice (both spellings, a repeated key or parameter), ' +
  'an unknown field or a value of the wrong type is a 400 `validation_failed`, never forwarded. HEAD is decided as its GET;\n' +
  '- `POST /v1/traces` (OTLP/HTTP, protobuf or JSON): only the service accounts of `MLFLOW_TRACE_CLIENTS`, with EDIT on ' +
  'the experiment in `X-Mlflow-Experiment-Id`.\n\n' +
  'Bodies are streamed both ways. MLflow’s own answers (including its `{error_code, message}` errors) pass through; the ' +
  'BFF’s refusals are problem+json with MLflow’s `error_code` and `message` added (`PERMISSION_DENIED`, `UNAUTHENTICATED`, ' +
  '`RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`, …), so MLflow’s clients report them as what they are.';

/**
 * The MLflow proxy. It decides for itself (SelfAuthorizing: the global guard lets it through):
 * bearer tokens and browser sessions both go through the AccessDecider, then the path rules and
 * experiment permissions of MlflowProxyService. Request bodies arrive unparsed (see mlflow-body.ts).
 */
@ApiTags('mlflow')
@SelfAuthorizing('mlflow')
@Controller(MLFLOW_MOUNT.slice(1))
export class MlflowProxyController {
  constructor(private readonly service: MlflowProxyService) {}

  @Get()
  @ApiOperation({ summary: 'The MLflow UI’s address without its trailing slash', description: 'Redirects to /mlflow/ (the UI uses relative URLs).' })
  @ApiResponse({ status: 308, description: 'To /mlflow/' })
  root(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    const raw = req.raw.url ?? '';
    const q = raw.indexOf('?');
    reply.redirect(`${MLFLOW_MOUNT}/${q < 0 ? '' : raw.slice(q)}`, 308);
  }

  @All('*')
  @ApiOperation({ summary: 'MLflow (UI, REST API, artifacts, OTLP traces) behind the BFF', description: PROXY_DOC })
  @ApiBearerAuth(BEARER_SCHEME)
  @ApiParam({
    name: 'path',
    description: 'The MLflow path (the route’s wildcard), e.g. api/2.0/mlflow/experiments/search or v1/traces',
    example: 'api/2.0/mlflow/experiments/search',
  })
  @ApiResponse({ status: 200, description: 'MLflow’s answer, streamed (JSON, HTML, artifacts, OTLP responses)' })
  @ApiResponse({ status: 302, description: 'A page load without a session: to /auth/login' })
  @ApiProblems(400, 401, 403, 404, 405, 413, 502, 503, 504)
  async proxy(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      await this.service.handle(req, reply);
    } catch (err) {
      throw asMlflowError(err);
    }
  }
}
