import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type pg from 'pg';
import type { EventStore } from '@flotilla/eventstore';
import { LOGGER, METRICS_REGISTRY, PG_POOL, SingletonLoopsRuntime } from '@flotilla/platform';
import { ProjectionProcessor, projectorMetrics, REGISTRY_PROJECTIONS, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
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
  constructor(
    private readonly runtime: SingletonLoopsRuntime,
    private readonly detector: FailureDetector,
    private readonly drains: DrainCompletion,
    private readonly reaper: ReservationReaper,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  /** The roles this replica leads now. */
  get leading(): string[] {
    return this.runtime.leading;
  }

  async onApplicationBootstrap(): Promise<void> {
    const processor = new ProjectionProcessor({ pool: this.pool, orm: this.orm, store: this.store }, REGISTRY_PROJECTIONS, {
      logger: this.logger,
      categories: REGISTRY_CATEGORIES,
      ...projectorMetrics(this.registry),
    });
    await this.runtime.start({
      [PROJECTOR_ROLE]: (signal) => processor.run(signal),
      [FAILURE_DETECTOR_ROLE]: (signal, term) => this.detector.run(signal, term),
      [DRAIN_COMPLETION_ROLE]: (signal, term) => this.drains.run(signal, term),
      [RESERVATION_REAPER_ROLE]: (signal, term) => this.reaper.run(signal, term),
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
