import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { PROMETHEUS_CONTENT_TYPE, type Registry } from '@flotilla/telemetry';
import { HealthService } from './health.service.js';
import { METRICS_REGISTRY } from './tokens.js';

/** /live, /health, /ready and /metrics of one replica (the gateway's /health aggregates all). */
@Controller()
export class ServiceHealthController {
  constructor(
    private readonly health: HealthService,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'up' };
  }

  @Get('health')
  async healthReport() {
    const report = await this.health.report();
    return { status: report.ready ? 'up' : 'degraded', ...report };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: FastifyReply) {
    const report = await this.health.report();
    res.status(report.ready ? 200 : 503);
    return { ready: report.ready, checks: report.checks };
  }

  @Get('metrics')
  @Header('Content-Type', PROMETHEUS_CONTENT_TYPE)
  metrics() {
    return this.registry.metrics();
  }
}
