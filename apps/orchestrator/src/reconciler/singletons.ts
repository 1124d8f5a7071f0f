import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type pg from 'pg';
import type { Config } from '@flotilla/config';
import type { EventStore } from '@flotilla/eventstore';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, PG_POOL, SingletonLoopsRuntime } from '@flotilla/platform';
import { EventRelay, ORCHESTRATOR_PROJECTIONS, ProjectionProcessor, projectorMetrics, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EventArchiver } from '../archive/event-archiver.js';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
import { CircuitBreakers } from '../tasks/circuit-breakers.js';
import { TasksService } from '../tasks/tasks.service.js';
import { Reconciler } from './reconciler.js';

/**
 * The orchestrator's singleton loops, each run by exactly one replica at a time (a lease per
 * role): the relay (event store → JetStream), the projection processor (read models), the
 * reconciler, the circuit breakers, the task ledger (queues again what NATS lost) and, when
 * retention is configured, the archiver.
 */
@Injectable()
export class SingletonLoops implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly runtime: SingletonLoopsRuntime,
    private readonly messaging: Messaging,
    private readonly reconciler: Reconciler,
    private readonly breakers: CircuitBreakers,
    private readonly tasks: TasksService,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const relay = new EventRelay(this.messaging, this.store, this.pool, { logger: this.logger, replicas: this.config.NATS_STREAM_REPLICAS });
    // The stream exists before anybody subscribes to it, whoever leads the relay.
    await relay.ensureStream();
    const processor = new ProjectionProcessor({ pool: this.pool, orm: this.orm, store: this.store }, ORCHESTRATOR_PROJECTIONS, {
      logger: this.logger,
      ...projectorMetrics(this.registry),
    });
    const ledger = this.tasks.ledgerLoop();
    // Retention runs only when configured (EVENT_ARCHIVE_AFTER > 0).
    const archiver =
      this.config.EVENT_ARCHIVE_AFTER > 0
        ? new EventArchiver(this.store, { afterMs: this.config.EVENT_ARCHIVE_AFTER, intervalMs: this.config.EVENT_ARCHIVE_INTERVAL_MS }, this.logger, this.registry)
        : undefined;
    await this.runtime.start({
      relay: (signal) => relay.run(signal),
      'projector-orchestrator': (signal) => processor.run(signal),
      reconciler: (signal, term) => this.reconciler.run(signal, term),
      'circuit-breaker': (signal, term) => this.breakers.run(signal, term),
      'task-ledger': (signal) => ledger.run(signal),
      ...(archiver ? { archiver: (signal: AbortSignal) => archiver.run(signal) } : {}),
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
