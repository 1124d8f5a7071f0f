import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type pg from 'pg';
import type { Config } from '@flotilla/config';
import type { EventStore } from '@flotilla/eventstore';
import { Fence, runSingletonLoops, type SingletonLoopsHandle } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, HealthService, LOGGER, METRICS_REGISTRY, PG_POOL, SERVICE_INFO, type ServiceInfo } from '@flotilla/platform';
import { ProjectionProcessor, projectorMetrics, REGISTRY_PROJECTIONS, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EVENT_STORE, FENCE, READ_MODELS } from '../infrastructure/tokens.js';
import { DRAIN_COMPLETION_ROLE, DrainCompletion } from './drain-completion.js';
import { FAILURE_DETECTOR_ROLE, FailureDetector } from './failure-detector.js';
import { RESERVATION_REAPER_ROLE, ReservationReaper } from './reservation-reaper.js';

export const PROJECTOR_ROLE = 'projector-registry';

/** The stream categories the registry's read models are made of. */
export const REGISTRY_CATEGORIES = ['node'];

/**
 * The registry's singleton loops, each run by exactly one replica at a time (a lease per role in
 * NATS KV): the read-model processor, the failure detector, drain completion and the reservation
 * reaper.
 */
@Injectable()
export class SingletonLoops implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private handle: SingletonLoopsHandle | undefined;

  constructor(
    private readonly messaging: Messaging,
    private readonly detector: FailureDetector,
    private readonly drains: DrainCompletion,
    private readonly reaper: ReservationReaper,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    health: HealthService,
  ) {
    health.register('singletons', async () => {
      const fenced = this.handle?.status().filter((s) => s.fencedOut) ?? [];
      if (fenced.length) throw new Error(`leads but cannot write (superseded): ${fenced.map((s) => `${s.role} (term ${s.term})`).join(', ')}`);
    });
  }

  get leading(): string[] {
    return this.handle?.status().filter((s) => s.leading).map((s) => s.role) ?? [];
  }

  async onApplicationBootstrap(): Promise<void> {
    const processor = new ProjectionProcessor({ pool: this.pool, orm: this.orm, store: this.store }, REGISTRY_PROJECTIONS, {
      logger: this.logger,
      categories: REGISTRY_CATEGORIES,
      ...projectorMetrics(this.registry),
    });
    this.handle = await runSingletonLoops(
      this.messaging,
      {
        [PROJECTOR_ROLE]: (signal) => processor.run(signal),
        [FAILURE_DETECTOR_ROLE]: (signal, term) => this.detector.run(signal, term),
        [DRAIN_COMPLETION_ROLE]: (signal, term) => this.drains.run(signal, term),
        [RESERVATION_REAPER_ROLE]: (signal, term) => this.reaper.run(signal, term),
      },
      { memberId: this.info.instanceId, ttlMs: this.config.LEASE_TTL_MS, replicas: this.config.NATS_STREAM_REPLICAS, logger: this.logger, newEpoch: this.fence.newEpoch },
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Standing down deletes each lease key, so another replica takes over at once.
    await this.handle?.stop();
  }
}
