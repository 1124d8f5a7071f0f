import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Config } from '@flotilla/config';
import { Messaging } from '@flotilla/messaging';
import type { Logger, Registry } from '@flotilla/telemetry';
import { FlotillaExceptionFilter } from './exception.filter.js';
import { ServiceHealthController } from './health.controller.js';
import { HealthService } from './health.service.js';
import { PgLifecycle, pgPoolProvider } from './postgres.js';
import { CONFIG, LOGGER, METRICS_REGISTRY, PG_POOL, SERVICE_INFO, type ServiceInfo } from './tokens.js';

export interface PlatformDeps {
  readonly info: ServiceInfo;
  readonly config: Config;
  readonly logger: Logger;
  readonly messaging: Messaging;
  readonly registry: Registry;
}

export interface PlatformOptions {
  /** Provide a pg Pool (PG_POOL) and report PostgreSQL in health. */
  readonly postgres?: boolean;
  /** Serve /live, /health, /ready, /metrics for this replica (the gateway has its own). */
  readonly healthEndpoints?: boolean;
}

/** Closes the NATS connection after everything else has stopped using it. */
@Injectable()
class MessagingLifecycle implements OnApplicationShutdown {
  constructor(private readonly messaging: Messaging) {}

  async onApplicationShutdown(): Promise<void> {
    await this.messaging.close();
  }
}

@Module({})
export class PlatformModule {
  static forService(deps: PlatformDeps, options: PlatformOptions = {}): DynamicModule {
    const providers: Provider[] = [
      { provide: SERVICE_INFO, useValue: deps.info },
      { provide: CONFIG, useValue: deps.config },
      { provide: LOGGER, useValue: deps.logger },
      { provide: METRICS_REGISTRY, useValue: deps.registry },
      { provide: Messaging, useValue: deps.messaging },
      HealthService,
      MessagingLifecycle,
      {
        provide: APP_FILTER,
        useFactory: () => new FlotillaExceptionFilter((err) => deps.logger.error({ err }, 'request failed')),
      },
    ];
    const exported: (string | symbol | Provider)[] = [SERVICE_INFO, CONFIG, LOGGER, METRICS_REGISTRY, Messaging, HealthService];
    if (options.postgres) {
      providers.push(pgPoolProvider, PgLifecycle);
      exported.push(PG_POOL);
    }
    return {
      module: PlatformModule,
      global: true,
      providers,
      exports: exported,
      controllers: options.healthEndpoints === false ? [] : [ServiceHealthController],
    };
  }
}

export const InjectConfig = () => Inject(CONFIG);
export const InjectLogger = () => Inject(LOGGER);
export const InjectPgPool = () => Inject(PG_POOL);
