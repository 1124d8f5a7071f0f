import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { createEventStore, eventStoreConfigFromEnv, type EventStore } from '@flotilla/eventstore';
import { CONFIG, LOGGER } from '@flotilla/platform';
import { openReadModels, type ReadModelOrm } from '@flotilla/projections';
import type { Logger } from '@flotilla/telemetry';
import { Collector } from './collector/collector.js';
import { FleetMirror } from './collector/fleet-mirror.js';
import { LiveState } from './collector/live-state.js';
import { Snapshots } from './collector/snapshots.service.js';
import { MetricsController } from './metrics.controller.js';
import { EVENT_STORE, READ_MODELS } from './tokens.js';

@Injectable()
class OrmLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.store.close().catch(() => undefined);
    await this.orm.close().catch(() => undefined);
  }
}

@Module({})
export class MetricsModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: MetricsModule,
      imports: [platform],
      controllers: [MetricsController],
      providers: [
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
          // The log, read only: the fleet mirror follows the cluster streams.
          provide: EVENT_STORE,
          inject: [CONFIG],
          useFactory: (config: Config) => {
            const c = eventStoreConfigFromEnv(config);
            return createEventStore(c.kind === 'postgres' ? { ...c, poolSize: 2 } : c);
          },
        },
        OrmLifecycle,
        FleetMirror,
        LiveState,
        Snapshots,
        Collector,
      ],
    };
  }
}
