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

/**
 * `flotilla_nats_request_duration_seconds{route,outcome}`: every request this service answered
 * over NATS, by route and outcome ('ok' or the error code): its rate (`_count`) and latency.
 */
export function measureNatsRequests(messaging: Messaging, registry: Registry): void {
  const duration = new promClient.Histogram({
    name: 'flotilla_nats_request_duration_seconds',
    help: 'Requests this service answered over NATS, by route and outcome, and how long each took.',
    labelNames: ['route', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  messaging.onHandled = (route, outcome, seconds) => duration.observe({ route, outcome }, seconds);
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
