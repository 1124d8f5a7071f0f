import type pg from 'pg';
import type { Messaging } from '@flotilla/messaging';
import { promClient, type Registry } from '@flotilla/telemetry';

/** `flotilla_nats_errors_total{kind,dependency}`: failed requests and connection trouble. */
export function countNatsErrors(messaging: Messaging, registry: Registry): void {
  const errors = new promClient.Counter({
    name: 'flotilla_nats_errors_total',
    help: 'NATS failures: requests that timed out, found no responder or failed, and disconnects.',
    labelNames: ['kind', 'dependency'],
    registers: [registry],
  });
  messaging.onError = (kind, dependency) => errors.inc({ kind, dependency });
}

/** `flotilla_db_errors_total{pool}`: queries on this pool that failed. */
export function countDbErrors(pool: pg.Pool, registry: Registry, name: string): pg.Pool {
  const errors =
    (registry.getSingleMetric('flotilla_db_errors_total') as InstanceType<typeof promClient.Counter> | undefined) ??
    new promClient.Counter({
      name: 'flotilla_db_errors_total',
      help: 'PostgreSQL queries that failed (connection errors, timeouts, constraint violations).',
      labelNames: ['pool'],
      registers: [registry],
    });
  errors.inc({ pool: name }, 0);
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) result.catch(() => errors.inc({ pool: name }));
    return result;
  }) as typeof pool.query;
  pool.on('error', () => errors.inc({ pool: name }));
  return pool;
}
