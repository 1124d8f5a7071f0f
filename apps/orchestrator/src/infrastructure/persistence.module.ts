import { Global, Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CommandHandler } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import {
  createEventStore,
  eventStoreConfigFromEnv,
  instrumentEventStore,
  type EventStore,
} from '@flotilla/eventstore';
import { CONFIG, HealthService, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { openReadModels, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EVENT_STORE, READ_MODELS } from './tokens.js';

/** The streams the orchestrator writes: its command handler's cache follows them. */
export const ORCHESTRATOR_CATEGORIES = ['cluster', 'blueprint', 'apikey'];

@Injectable()
class PersistenceLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly following = new AbortController();
  private followed: Promise<void> = Promise.resolve();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly commands: CommandHandler,
    health: HealthService,
  ) {
    health.register('event_store', () => store.headPosition());
  }

  onApplicationBootstrap(): void {
    this.followed = this.commands.follow(this.following.signal, ORCHESTRATOR_CATEGORIES, (err) => this.logger.warn({ err }, 'command cache lost the log; following it again'));
  }

  async onApplicationShutdown(): Promise<void> {
    this.following.abort();
    await this.followed;
    await this.store.close().catch(() => undefined);
    await this.orm.close().catch(() => undefined);
  }
}

/**
 * The event store (PostgreSQL or EventStoreDB, by EVENT_STORE) and the read-model ORM, migrated
 * at start, plus the one command handler every write goes through.
 */
@Global()
@Module({
  providers: [
    {
      provide: EVENT_STORE,
      inject: [CONFIG, METRICS_REGISTRY],
      useFactory: async (config: Config, registry: Registry) =>
        instrumentEventStore(await createEventStore(eventStoreConfigFromEnv(config)), registry),
    },
    {
      provide: READ_MODELS,
      inject: [CONFIG, LOGGER],
      useFactory: (config: Config, logger: Logger) =>
        openReadModels({
          url: config.DATABASE_URL,
          poolSize: config.DATABASE_POOL_SIZE,
          onApplied: (applied) => logger.info({ applied }, 'read-model migrations applied'),
        }),
    },
    {
      provide: CommandHandler,
      inject: [EVENT_STORE, CONFIG],
      // Cluster, blueprint and key states stay folded in memory, kept current from the log.
      useFactory: (store: EventStore, config: Config) => new CommandHandler(store, { cacheSize: config.COMMAND_CACHE_SIZE }),
    },
    PersistenceLifecycle,
  ],
  exports: [EVENT_STORE, READ_MODELS, CommandHandler],
})
export class PersistenceModule {}
