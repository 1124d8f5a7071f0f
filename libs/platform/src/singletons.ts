import { Inject, Injectable, Optional } from '@nestjs/common';
import type pg from 'pg';
import type { Config } from '@flotilla/config';
import { Fence, runSingletonLoops, type SingletonLoop, type SingletonLoopsHandle } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import { HealthService } from './health.service.js';
import { CONFIG, LOGGER, PG_POOL, SERVICE_INFO, type ServiceInfo } from './tokens.js';

/** The fence every singleton loop carries its lease term into (refuses a deposed leader's late write). */
export const FENCE = Symbol('flotilla.fence');

export const fenceProvider = {
  provide: FENCE,
  inject: [PG_POOL],
  useFactory: async (pool: pg.Pool): Promise<Fence> => {
    const fence = new Fence(pool);
    await fence.ensureSchema();
    return fence;
  },
};

/**
 * A service's singleton loops as one Nest provider: `start` runs each loop under a lease of its
 * own role (one replica at a time, lease kept from a worker thread, terms from the fence's
 * epochs; a service without PostgreSQL provides no fence and its terms need an epoch another
 * service has set), `stop` stands down (deleting each lease key, so another replica takes over at once),
 * and the `singletons` health check fails while this replica leads a role it can no longer
 * write for (a newer term has written).
 */
@Injectable()
export class SingletonLoopsRuntime {
  private handle: SingletonLoopsHandle | undefined;

  constructor(
    private readonly messaging: Messaging,
    @Optional() @Inject(FENCE) private readonly fence: Fence | null,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    health: HealthService,
  ) {
    health.register('singletons', async () => {
      const fenced = this.handle?.status().filter((s) => s.fencedOut) ?? [];
      if (fenced.length) throw new Error(`leads but cannot write (superseded): ${fenced.map((s) => `${s.role} (term ${s.term})`).join(', ')}`);
    });
  }

  async start(loops: Readonly<Record<string, SingletonLoop>>): Promise<void> {
    this.handle = await runSingletonLoops(this.messaging, loops, {
      memberId: this.info.instanceId,
      ttlMs: this.config.LEASE_TTL_MS,
      replicas: this.config.NATS_STREAM_REPLICAS,
      logger: this.logger,
      ...(this.fence ? { newEpoch: this.fence.newEpoch } : {}),
    });
  }

  /** The roles this replica leads now. */
  get leading(): string[] {
    return this.handle?.status().filter((s) => s.leading).map((s) => s.role) ?? [];
  }

  async stop(): Promise<void> {
    await this.handle?.stop();
  }
}
