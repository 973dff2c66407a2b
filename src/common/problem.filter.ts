import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, ProblemException, problemBody, type ProblemReason } from './problem';

const REASON_BY_STATUS: Record<number, ProblemReason> = {
  400: 'validation_failed',
  401: 'token_invalid',
  403: 'insufficient_role',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'validation_failed',
  429: 'rate_limited',
  502: 'upstream_unavailable',
  503: 'upstream_unavailable',
  504: 'upstream_timeout',
};

/** Turns every error into application/problem+json with a stable reason and the request id. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<FastifyRequest>();
    const reply = ctx.getResponse<FastifyReply>();
    const instance = req.url?.split('?')[0];
    const { status, body, headers } = this.toProblem(exception, instance, String(req.id));
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    if (headers) reply.headers(headers);
    reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
  }

  private toProblem(exception: unknown, instance: string | undefined, requestId: string) {
    if (exception instanceof ProblemException) {
      return { status: exception.getStatus(), body: exception.body(instance, requestId), headers: exception.headers };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse() as { message?: unknown } | string;
      const message = typeof response === 'string' ? response : response.message;
      const detail = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : undefined;
      const reason = REASON_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'validation_failed');
      if (status >= 500) this.logger.error({ requestId, err: exception }, 'request failed');
      return { status, body: problemBody(status, reason, status === 404 ? 'No such route' : detail, instance, requestId) };
    }
    // Fastify's own errors (body too large, bad JSON, bad content type) carry a statusCode.
    const fastifyStatus = (exception as { statusCode?: number })?.statusCode;
    if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
      const reason = REASON_BY_STATUS[fastifyStatus] ?? 'validation_failed';
      const detail = (exception as Error).message;
      return { status: fastifyStatus, body: problemBody(fastifyStatus, reason, detail, instance, requestId) };
    }
    this.logger.error({ requestId, err: exception }, 'unhandled error');
    return {
      status: 500,
      body: problemBody(500, 'internal_error', `Unexpected error; quote request id ${requestId}`, instance, requestId),
    };
  }
}
