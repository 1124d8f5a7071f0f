import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { pingRoutes, type DependencyCheck, type PingReply } from '@flotilla/contracts';
import { Messaging } from '@flotilla/messaging';
import { SERVICE_INFO, type ServiceInfo } from './tokens.js';

export type Check = () => Promise<unknown>;

async function timed(check: Check, timeoutMs: number): Promise<DependencyCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'up', latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (err) {
    return { status: 'down', latency_ms: null, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * This replica's view of itself: the dependency checks registered by its modules (NATS always,
 * PostgreSQL when used), and whether it is ready (started, not shutting down, every check up).
 * It answers `<service>.system.ping` on NATS, which is how the gateway's /health sees it.
 */
@Injectable()
export class HealthService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly checks = new Map<string, Check>();
  private started = false;
  private stopping = false;

  constructor(
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    private readonly messaging: Messaging,
  ) {
    this.register('nats', async () => {
      if (!messaging.isConnected) throw new Error('disconnected');
      await messaging.rtt();
    });
  }

  register(name: string, check: Check): void {
    this.checks.set(name, check);
  }

  onApplicationBootstrap(): void {
    this.messaging.serve(pingRoutes[this.info.service], () => this.report(), {
      // Every replica answers its own ping subject; the queue group still lets a caller reach any one.
    });
    this.started = true;
  }

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  get accepting(): boolean {
    return this.started && !this.stopping;
  }

  async report(timeoutMs = 1000): Promise<PingReply> {
    const entries = await Promise.all([...this.checks].map(async ([name, check]) => [name, await timed(check, timeoutMs)] as const));
    const checks = Object.fromEntries(entries);
    return {
      service: this.info.service,
      instance: this.info.instanceId,
      version: this.info.version,
      uptime_ms: Date.now() - this.info.startedAt,
      ready: this.accepting && entries.every(([, c]) => c.status === 'up'),
      checks,
    };
  }
}

export { timed as timedCheck };
