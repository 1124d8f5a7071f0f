import { type DynamicModule, Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { createEventStore, eventStoreConfigFromEnv, instrumentEventStore, type EventStore } from '@flotilla/eventstore';
import { openReadModels, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { HealthService } from './health.service.js';
import { CONFIG, LOGGER, METRICS_REGISTRY } from './tokens.js';

/** The log (PostgreSQL or EventStoreDB, by EVENT_STORE). */
export const EVENT_STORE = Symbol('flotilla.event-store');
/** The read-model ORM, migrated at start. */
export const READ_MODELS = Symbol('flotilla.read-models');
/** What the service's command handler is to this module: a cache that follows the log. */
const COMMANDS = Symbol('flotilla.persistence.commands');

/** A write path whose in-memory states follow the log (the application's CommandHandler). */
export interface LogFollower {
  follow(signal: AbortSignal, categories: readonly string[], onError: (err: unknown) => void): Promise<void>;
}

export interface PersistenceOptions<H extends LogFollower> {
  /**
   * The one command handler every write of the service goes through, provided under `token`,
   * made by `create`, its cache following the stream categories the service writes.
   */
  readonly commands?: {
    readonly token: abstract new (...args: never[]) => H;
    readonly create: (store: EventStore, config: Config) => H;
    readonly follow: readonly string[];
  };
  /** A smaller pool for a service that only reads the log (the metrics service's mirror). */
  readonly eventStorePoolSize?: number;
}

/**
 * Starts the command cache following the log once the application is up, and at shutdown stops
 * it, then closes the event store and the ORM.
 */
@Injectable()
class PersistenceLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly following = new AbortController();
  private followed: Promise<void> = Promise.resolve();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(COMMANDS) private readonly commands: { handler: LogFollower; categories: readonly string[] } | null,
    health: HealthService,
  ) {
    health.register('event_store', () => store.headPosition());
  }

  onApplicationBootstrap(): void {
    if (!this.commands) return;
    const { handler, categories } = this.commands;
    this.followed = handler.follow(this.following.signal, categories, (err) => this.logger.warn({ err }, 'command cache lost the log; following it again'));
  }

  async onApplicationShutdown(): Promise<void> {
    this.following.abort();
    await this.followed;
    await this.store.close().catch(() => undefined);
    await this.orm.close().catch(() => undefined);
  }
}

/**
 * A service's persistence: the event store (instrumented), the read-model ORM (migrated at
 * start), the `event_store` health check and, for a service that writes, its command handler
 * with the cache following the log. Global, so every module of the service injects the tokens.
 */
@Module({})
export class PersistenceModule {
  static register<H extends LogFollower>(options: PersistenceOptions<H> = {}): DynamicModule {
    const { commands, eventStorePoolSize } = options;
    const providers: Provider[] = [
      {
        provide: EVENT_STORE,
        inject: [CONFIG, METRICS_REGISTRY],
        useFactory: async (config: Config, registry: Registry) => {
          const c = eventStoreConfigFromEnv(config);
          const sized = eventStorePoolSize !== undefined && c.kind === 'postgres' ? { ...c, poolSize: eventStorePoolSize } : c;
          return instrumentEventStore(await createEventStore(sized), registry);
        },
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
      PersistenceLifecycle,
    ];
    const exported: NonNullable<DynamicModule['exports']> = [EVENT_STORE, READ_MODELS];
    if (commands) {
      providers.push(
        { provide: commands.token, inject: [EVENT_STORE, CONFIG], useFactory: commands.create },
        { provide: COMMANDS, inject: [commands.token], useFactory: (handler: H) => ({ handler, categories: commands.follow }) },
      );
      exported.push(commands.token);
    } else {
      providers.push({ provide: COMMANDS, useValue: null });
    }
    return { module: PersistenceModule, global: true, providers, exports: exported };
  }
}
