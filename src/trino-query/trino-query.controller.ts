import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { getAuthContext } from '../auth/auth-context';
import { Authenticated } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PROBLEM_CONTENT_TYPE } from '../common/problem';
import { clientGoneSignal } from './client-gone';
import { TrinoQueryFailedDto, TrinoQueryRequestDto, TrinoQueryResultDto } from './dto/trino-query.dto';
import { TrinoQueryService } from './trino-query.service';
import { ClientGoneError } from './trino.client';

const failed = (status: number, description: string) =>
  ApiResponse({ status, description, content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(TrinoQueryFailedDto) } } } });

/** Trino for frontends that do not speak its protocol. */
@ApiTags('trino-query')
@ApiExtraModels(TrinoQueryFailedDto)
@Controller('trino')
export class TrinoQueryController {
  constructor(private readonly queries: TrinoQueryService) {}

  @Post('query')
  @HttpCode(200)
  @Authenticated()
  @ApiOperation({
    summary: 'Run one SQL statement to completion and get its rows',
    description:
      'Runs as the user of the token, returns at most maxRows rows (default 1000, at most 10000; the rest of a ' +
      'longer result is cut, `truncated` is true and the query is cancelled). A query Trino fails is answered with ' +
      "Trino's error object in `error`. The whole run is bounded by TRINO_TIMEOUT_MS.",
  })
  @ApiOkResponse({ type: TrinoQueryResultDto })
  @ApiProblems(502, 504)
  @failed(400, 'Invalid input (validation_failed), or the query failed with a USER_ERROR (upstream_error, with `error`)')
  @failed(403, 'The query failed with PERMISSION_DENIED (upstream_error, with `error`), or the token names no Trino user')
  @failed(503, 'The query failed with INSUFFICIENT_RESOURCES (upstream_error, with `error`), or Trino is not configured')
  async query(
    @Body() body: TrinoQueryRequestDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TrinoQueryResultDto | undefined> {
    const auth = getAuthContext(req);
    if (!auth) throw new Error('POST /trino/query reached without authentication');
    try {
      return await this.queries.run(auth, body, clientGoneSignal(reply.raw));
    } catch (err) {
      if (err instanceof ClientGoneError) {
        reply.raw.destroy();
        return undefined;
      }
      throw err;
    }
  }
}
