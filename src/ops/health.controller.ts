import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators';
import { MetricsService } from '../common/metrics.service';
import { ReadinessRegistry } from '../common/readiness.registry';

const CHECK_TIMEOUT_MS = 2500;

@ApiTags('ops')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessRegistry,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @Public()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers' })
  live() {
    return this.health.check([]);
  }

  @Get('health/ready')
  @Public()
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: the cache, the identity provider keys and the configured upstreams' })
  ready() {
    return this.health.check(
      this.readiness.entries().map(([name, check]) => async (): Promise<HealthIndicatorResult> => {
        const session = this.indicators.check(name);
        const result = await Promise.race([
          check(),
          new Promise<{ status: 'down'; detail: string }>((r) => setTimeout(() => r({ status: 'down', detail: 'timed out' }), CHECK_TIMEOUT_MS).unref()),
        ]).catch(() => ({ status: 'down' as const, detail: 'check failed' }));
        const data: { detail: string } = { detail: result.detail ?? result.status };
        if (result.status === 'up') return session.up(data);
        if (result.status === 'degraded') return session.degraded(data);
        return session.down(data);
      }),
    );
  }

  @Get('metrics')
  @Public()
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'Prometheus text exposition format',
    schema: { type: 'string', example: 'bff_http_requests_total{route="/auth/me",method="GET",status="200"} 42' },
  })
  @ApiServiceUnavailableResponse({ description: 'Never: metrics are always served' })
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
