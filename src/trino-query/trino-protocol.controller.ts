import { Readable } from 'node:stream';
import { EXAMPLE_QUERY_ID } from '../common/openapi-examples';
import { Controller, Delete, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { getAuthContext } from '../auth/auth-context';
import { Authenticated, Public } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { problem, PROBLEM_CONTENT_TYPE } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { clientGoneSignal } from './client-gone';
import { writeTurnsTogether } from './page-writes';
import { QueryResultsDto, TrinoQueryInfoDto, TrinoServerInfoDto } from './dto/query-results.dto';
import type { StatementStage } from './statement-paths';
import { TrinoProtocolService, type ProtocolRequest, type ProxiedAnswer } from './trino-protocol.service';
import { ClientGoneError } from './trino.client';
import { publicBaseUrl } from './uri-rewriter';

const SESSION_HEADERS = [
  ['X-Trino-Source', 'Client name, e.g. trino-cli', 'trino-cli'],
  ['X-Trino-Catalog', 'Session catalog', 'tpch'],
  ['X-Trino-Schema', 'Session schema (needs X-Trino-Catalog)', 'tiny'],
  ['X-Trino-Session', 'Session properties, name=value comma list', 'query_max_run_time=1h'],
  ['X-Trino-Client-Tags', 'Client tags (resource groups)', 'dashboards'],
  ['X-Trino-Transaction-Id', 'Transaction to run in', 'NONE'],
] as const;

/** The session headers of POST /v1/statement, for the docs (every X-Trino-* header passes, not only these). */
function ApiTrinoSessionHeaders(): MethodDecorator {
  const decorators = SESSION_HEADERS.map(([name, description, example]) => ApiHeader({ name, description, example, required: false }));
  decorators.push(
    ApiHeader({
      name: 'X-Trino-User',
      required: false,
      description: 'Ignored: replaced by the user of the token (TRINO_USER_CLAIM); a different value is logged as an impersonation attempt',
    }),
  );
  return (target, key, descriptor) => {
    for (const d of decorators) d(target, key, descriptor);
  };
}

/** A Trino query id (io.trino.spi.QueryId: lowercase letters, digits, underscores). */
const QUERY_ID = /^[a-z0-9_]{1,128}$/;

/**
 * 404 on a nextUri: problem+json when the BFF refuses it (no such query, or not the caller's), or Trino's own
 * text/plain answer (`Query not found`) when the query is the caller's but the coordinator does not know the
 * slug or token: the answer of the protocol, passed through as Trino clients expect it.
 */
const ApiNextUriNotFound = () =>
  ApiResponse({
    status: 404,
    description: 'Not found, or not yours (not_found, problem+json); or Trino’s own answer for an unknown slug or token (text/plain)',
    content: {
      [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } },
      'text/plain': { schema: { type: 'string', example: 'Query not found' } },
    },
  });

const FOLLOW_DOC =
  'nextUri / partialCancelUri of a query, as the BFF rewrote them: `{queryId}/{slug}/{token}` ' +
  '(executing also `partialCancel/{queryId}/{stageId}/{slug}/{token}`, DELETE only). Only the user who submitted ' +
  'the query may follow or cancel it: anyone else gets a 404 and nothing reaches Trino.';

/**
 * The Trino client protocol (trino CLI, JDBC, trino-client) with a Bearer token: the same answers as
 * the coordinator's, with X-Trino-User from the token and every URI pointing back at the BFF.
 */
@ApiTags('trino-protocol')
@Controller()
export class TrinoProtocolController {
  constructor(
    private readonly protocol: TrinoProtocolService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('v1/statement')
  @Authenticated()
  @ApiOperation({
    summary: 'Submit a SQL statement (Trino client protocol)',
    description:
      'The body is the SQL text (any content type: text/plain, or what the client sends). The query runs as the ' +
      'user named by the token (TRINO_USER_CLAIM); every other X-Trino-* header passes through, and the ' +
      'X-Trino-Set-* / Clear-* / Added-Prepare... response headers come back unchanged. The answer is QUEUED; ' +
      'follow nextUri for the data.',
  })
  @ApiConsumes('text/plain')
  @ApiBody({ schema: { type: 'string', example: 'SELECT nationkey, name FROM tpch.tiny.nation' } })
  @ApiTrinoSessionHeaders()
  @ApiOkResponse({ type: QueryResultsDto, description: 'QueryResults (state QUEUED)' })
  @ApiResponse({ status: 400, description: 'Empty statement (problem+json), or a request Trino refused (text/plain, as Trino sent it)' })
  @ApiProblems(403, 502, 503, 504)
  async submit(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.answer(reply, () => this.protocol.submit(this.protocolRequest(req, reply), req.body));
  }

  @Get('v1/statement/queued/*')
  @Authenticated()
  @ApiOperation({ summary: 'Next result of a queued query (its nextUri)', description: FOLLOW_DOC })
  @ApiParam({ name: 'path', description: '{queryId}/{slug}/{token}', example: `${EXAMPLE_QUERY_ID}/y1a2b3c4d/1` })
  @ApiQuery({ name: 'maxWait', required: false, example: '1s' })
  @ApiOkResponse({ type: QueryResultsDto })
  @ApiResponse({ status: 410, description: 'Token no longer valid (as Trino answers)' })
  @ApiNextUriNotFound()
  @ApiProblems(502, 503, 504)
  async followQueued(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('*') rest: string, @Query() query: unknown): Promise<void> {
    await this.follow(req, reply, 'queued', rest, 'GET', query);
  }

  @Delete('v1/statement/queued/*')
  @Authenticated()
  @ApiOperation({ summary: 'Cancel a queued query', description: FOLLOW_DOC })
  @ApiParam({ name: 'path', description: '{queryId}/{slug}/{token}', example: `${EXAMPLE_QUERY_ID}/y1a2b3c4d/1` })
  @ApiNoContentResponse({ description: 'Cancelled' })
  @ApiNextUriNotFound()
  @ApiProblems(502, 503, 504)
  async cancelQueued(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('*') rest: string): Promise<void> {
    await this.follow(req, reply, 'queued', rest, 'DELETE', undefined);
  }

  @Get('v1/statement/executing/*')
  @Authenticated()
  @ApiOperation({
    summary: 'Next page of a running query (its nextUri)',
    description: `${FOLLOW_DOC} The page is streamed from the coordinator with its URIs rewritten on the way; the BFF never holds a whole page or result.`,
  })
  @ApiParam({ name: 'path', description: '{queryId}/{slug}/{token}', example: `${EXAMPLE_QUERY_ID}/y0c6c1f2e/3` })
  @ApiQuery({ name: 'maxWait', required: false, example: '1s' })
  @ApiQuery({ name: 'targetResultSize', required: false, example: '1MB' })
  @ApiOkResponse({ type: QueryResultsDto, description: 'QueryResults: a page of data, or the final state (a failed query has `error`)' })
  @ApiResponse({ status: 410, description: 'Token no longer valid (as Trino answers)' })
  @ApiNextUriNotFound()
  @ApiProblems(502, 503, 504)
  async followExecuting(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('*') rest: string, @Query() query: unknown): Promise<void> {
    await this.follow(req, reply, 'executing', rest, 'GET', query);
  }

  @Delete('v1/statement/executing/*')
  @Authenticated()
  @ApiOperation({ summary: 'Cancel a running query (nextUri), or a stage of it (partialCancelUri)', description: FOLLOW_DOC })
  @ApiParam({
    name: 'path',
    description: '{queryId}/{slug}/{token} or partialCancel/{queryId}/{stageId}/{slug}/{token}',
    example: `${EXAMPLE_QUERY_ID}/y0c6c1f2e/3`,
  })
  @ApiNoContentResponse({ description: 'Cancelled' })
  @ApiNextUriNotFound()
  @ApiProblems(502, 503, 504)
  async cancelExecuting(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('*') rest: string): Promise<void> {
    await this.follow(req, reply, 'executing', rest, 'DELETE', undefined);
  }

  @Get('v1/info')
  @Public()
  @ApiOperation({ summary: 'Coordinator information (public, as in Trino)' })
  @ApiOkResponse({ type: TrinoServerInfoDto })
  @ApiProblems(502, 503, 504)
  async info(@Res() reply: FastifyReply): Promise<void> {
    await this.answer(reply, () => this.protocol.serverInfo(clientGoneSignal(reply.raw)));
  }

  @Get('v1/query/:queryId')
  @Authenticated()
  @ApiOperation({ summary: 'Query details (Trino QueryInfo); only the user who submitted the query' })
  @ApiParam({ name: 'queryId', example: EXAMPLE_QUERY_ID })
  @ApiProduces('application/json')
  @ApiOkResponse({ type: TrinoQueryInfoDto })
  @ApiResponse({ status: 410, description: 'Trino no longer knows the query' })
  @ApiProblems(403, 404, 502, 503, 504)
  async queryInfo(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('queryId') queryId: string): Promise<void> {
    await this.answer(reply, () => this.protocol.queryInfo(this.protocolRequest(req, reply), queryId));
  }

  @Delete('v1/query/:queryId')
  @Authenticated()
  @ApiOperation({ summary: 'Cancel a query (how trino-client cancels); only the user who submitted it' })
  @ApiParam({ name: 'queryId', example: EXAMPLE_QUERY_ID })
  @ApiNoContentResponse({ description: 'Cancelled' })
  @ApiProblems(403, 404, 502, 503, 504)
  async cancelQuery(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('queryId') queryId: string): Promise<void> {
    await this.answer(reply, () => this.protocol.cancelQuery(this.protocolRequest(req, reply), queryId));
  }

  @Get('ui/query.html')
  @Public()
  @ApiOperation({
    summary: 'A query’s page in the Trino web UI (the infoUri of its QueryResults)',
    description:
      'The query string is the bare query id, as Trino writes infoUri: `/ui/query.html?20250101_120000_00001_abcde`, ' +
      'or `queryId=` and the id (the form Swagger UI sends). ' +
      'The BFF does not serve Trino’s web UI (it has its own login); it redirects to the page on TRINO_UI_URL, ' +
      'the UI’s public address, which authenticates the user itself. 404 when TRINO_UI_URL is not set.',
  })
  @ApiQuery({ name: 'queryId', required: false, example: EXAMPLE_QUERY_ID, description: 'The query id, when not given as the bare query string' })
  @ApiResponse({ status: 302, description: 'To TRINO_UI_URL/ui/query.html?{queryId}' })
  @ApiProblems(400, 404)
  queryPage(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    const search = req.url.split('?')[1] ?? '';
    const queryId = search.startsWith('queryId=') ? search.slice('queryId='.length) : search;
    if (!QUERY_ID.test(queryId)) throw problem.badRequest('the query string must be a Trino query id');
    const ui = this.config.trino.uiUrl;
    if (!ui) throw problem.notFound('no Trino web UI is published for this platform (TRINO_UI_URL is not set)');
    reply.header('cache-control', 'no-store').redirect(`${ui}/ui/query.html?${queryId}`, 302);
  }

  private follow(req: FastifyRequest, reply: FastifyReply, stage: StatementStage, rest: string, method: 'GET' | 'DELETE', query: unknown): Promise<void> {
    return this.answer(reply, () => this.protocol.follow(this.protocolRequest(req, reply), stage, rest, method, query));
  }

  /** Runs one protocol call and sends its answer (streamed when it is a stream); a client already gone gets nothing. */
  private async answer(reply: FastifyReply, work: () => Promise<ProxiedAnswer>): Promise<void> {
    let answer: ProxiedAnswer;
    try {
      answer = await work();
    } catch (err) {
      if (err instanceof ClientGoneError) {
        reply.raw.destroy();
        return;
      }
      throw err;
    }
    reply.code(answer.status).headers(answer.headers);
    reply.send(answer.body);
    if (answer.body instanceof Readable) writeTurnsTogether(reply.raw, answer.body);
  }

  private protocolRequest(req: FastifyRequest, reply: FastifyReply): ProtocolRequest {
    const auth = getAuthContext(req);
    if (!auth) throw new Error('Trino protocol route reached without authentication');
    return { auth, headers: req.headers, publicBase: publicBaseUrl(req, this.config), signal: clientGoneSignal(reply.raw) };
  }
}
