import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { Config } from '@flotilla/config';
import { HealthService } from './health.service.js';
import type { Registry } from '@flotilla/telemetry';
import { countDbErrors } from './service-metrics.js';
import { CONFIG, METRICS_REGISTRY, PG_POOL } from './tokens.js';

export function createPgPool(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>, applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    application_name: process.env['PGAPPNAME'] ?? applicationName,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Registers the PostgreSQL health check and closes the pool last at shutdown. */
@Injectable()
export class PgLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    health: HealthService,
  ) {
    health.register('postgres', () => pool.query('SELECT 1'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

export const pgPoolProvider = {
  provide: PG_POOL,
  inject: [CONFIG, METRICS_REGISTRY],
  useFactory: (config: Config, registry: Registry) => countDbErrors(createPgPool(config, 'flotilla'), registry, 'service'),
};
