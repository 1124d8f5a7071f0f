import client from 'prom-client';
import type { ProcessorOptions } from './processor.js';

/**
 * Processor hooks that feed the service's Prometheus registry: events applied per projection and
 * the projection lag (seconds from an event occurring to its batch being committed).
 */
export function projectorMetrics(registry: client.Registry): Pick<ProcessorOptions, 'onApplied'> {
  const applied = new client.Counter({
    name: 'flotilla_projection_events_total',
    help: 'Events applied to the read models, by projection.',
    labelNames: ['projection'],
    registers: [registry],
  });
  const lag = new client.Gauge({
    name: 'flotilla_projection_lag_seconds',
    help: 'Seconds between the last applied event occurring and its projection committing it.',
    labelNames: ['projection'],
    registers: [registry],
  });
  return {
    onApplied: (projection, _position, events, lastOccurredAt) => {
      applied.inc({ projection }, events);
      lag.set({ projection }, Math.max(0, (Date.now() - lastOccurredAt.getTime()) / 1000));
    },
  };
}
