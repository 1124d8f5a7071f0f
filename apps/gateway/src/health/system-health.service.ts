import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { pingRoutes, SERVICES, type DependencyCheck, type ServiceName } from '@flotilla/contracts';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, HealthService, timedCheck } from '@flotilla/platform';

export interface ServiceStatus extends DependencyCheck {
  readonly instance?: string;
  readonly ready?: boolean;
  readonly checks?: Record<string, DependencyCheck>;
}

export interface SystemHealth {
  readonly status: 'up' | 'degraded';
  readonly checked_at: string;
  readonly services: Record<ServiceName, ServiceStatus>;
  readonly nats: DependencyCheck;
  readonly postgres: DependencyCheck;
}

/**
 * The whole system as the gateway sees it: each service answers its ping over NATS (any one
 * replica, within HEALTH_TIMEOUT_MS), and NATS and PostgreSQL are probed directly. A service
 * that does not answer in time is down; nothing here ever throws.
 */
@Injectable()
export class SystemHealthService {
  constructor(
    private readonly messaging: Messaging,
    private readonly own: HealthService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  async check(): Promise<SystemHealth> {
    const timeoutMs = this.config.HEALTH_TIMEOUT_MS;
    const [ownReport, ...others] = await Promise.all([
      this.own.report(timeoutMs),
      ...SERVICES.filter((s) => s !== 'gateway').map(async (service) => [service, await this.ping(service, timeoutMs)] as const),
    ]);
    const services = {
      gateway: { status: ownReport.ready || ownReport.checks['nats']?.status === 'up' ? 'up' : 'down', latency_ms: 0, instance: ownReport.instance, ready: ownReport.ready },
      ...Object.fromEntries(others),
    } as Record<ServiceName, ServiceStatus>;
    const nats = ownReport.checks['nats'] ?? { status: 'down', latency_ms: null };
    const postgres = ownReport.checks['postgres'] ?? { status: 'down', latency_ms: null };
    const allUp = Object.values(services).every((s) => s.status === 'up') && nats.status === 'up' && postgres.status === 'up';
    return { status: allUp ? 'up' : 'degraded', checked_at: new Date().toISOString(), services, nats, postgres };
  }

  private async ping(service: ServiceName, timeoutMs: number): Promise<ServiceStatus> {
    let reply: Awaited<ReturnType<Messaging['request']>> | undefined;
    const result = await timedCheck(async () => {
      reply = await this.messaging.request(pingRoutes[service], {}, { timeoutMs });
    }, timeoutMs + 50);
    if (result.status === 'down' || !reply) return result;
    const r = reply as { instance: string; ready: boolean; checks: Record<string, DependencyCheck> };
    return { ...result, instance: r.instance, ready: r.ready, checks: r.checks };
  }
}
