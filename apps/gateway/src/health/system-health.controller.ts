import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { METRICS_REGISTRY } from '@flotilla/platform';
import { PROMETHEUS_CONTENT_TYPE, type Registry } from '@flotilla/telemetry';
import { SystemHealthService } from './system-health.service.js';

@Controller()
export class SystemHealthController {
  constructor(
    private readonly health: SystemHealthService,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  /** The gateway process itself is alive (container liveness probe). */
  @Get('live')
  live() {
    return { status: 'up' };
  }

  /** Every service, NATS and PostgreSQL, each with its latency. */
  @Get('health')
  async report() {
    return this.health.check();
  }

  /** 200 when every service and dependency is up, else 503 naming what is down. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) res: FastifyReply) {
    const h = await this.health.check();
    const down = [
      ...Object.entries(h.services)
        .filter(([, s]) => s.status !== 'up')
        .map(([name]) => name),
      ...(h.nats.status === 'up' ? [] : ['nats']),
      ...(h.postgres.status === 'up' ? [] : ['postgres']),
    ];
    res.status(down.length ? 503 : 200);
    return { ready: down.length === 0, down };
  }

  @Get('metrics')
  @Header('Content-Type', PROMETHEUS_CONTENT_TYPE)
  metrics() {
    return this.registry.metrics();
  }
}
