import { Global, Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CommandHandler } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import {
  createEventStore,
  eventStoreConfigFromEnv,
  instrumentEventStore,
  type EventStore,
} from '@flotilla/eventstore';
import { CONFIG, FENCE, fenceProvider, HealthService, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { openReadModels, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EVENT_STORE, READ_MODELS } from './tokens.js';

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
    // The registry writes node streams and its settings stream; its cache follows them.
    this.followed = this.commands.follow(this.following.signal, ['node', 'registry'], (err) => this.logger.warn({ err }, 'command cache lost the log; following it again'));
  }

  async onApplicationShutdown(): Promise<void> {
    this.following.abort();
    await this.followed;
    await this.store.close().catch(() => undefined);
    await this.orm.close().catch(() => undefined);
  }
}

/**
 * The event store (PostgreSQL or EventStoreDB, by EVENT_STORE), the read-model ORM (migrated at
 * start), the one command handler every node write goes through, and the fence the singleton
 * loops carry their lease terms into.
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
      // Every node stream stays folded in memory (10,000 nodes fit), kept current from the log;
      // the expected revision still guards every append.
      useFactory: (store: EventStore, config: Config) => new CommandHandler(store, { cacheSize: config.COMMAND_CACHE_SIZE }),
    },
    fenceProvider,
    PersistenceLifecycle,
  ],
  exports: [EVENT_STORE, READ_MODELS, CommandHandler, FENCE],
})
export class PersistenceModule {}
