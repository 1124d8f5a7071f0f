import client from 'prom-client';
import { ConcurrencyError } from '@flotilla/domain';
import type { EventStore } from './event-store.port.js';

/**
 * The same store, measured: append latency by outcome (`ok`, `conflict` for an optimistic
 * concurrency miss, `error`) and failed reads, registered on the service's Prometheus registry.
 */
export function instrumentEventStore(store: EventStore, registry: client.Registry): EventStore {
  const append = new client.Histogram({
    name: 'flotilla_eventstore_append_duration_seconds',
    help: 'Event store append latency, by outcome (ok, conflict, error).',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const errors = new client.Counter({
    name: 'flotilla_eventstore_errors_total',
    help: 'Event store operations that failed (database or EventStoreDB errors; not concurrency conflicts).',
    labelNames: ['operation'],
    registers: [registry],
  });
  const counted = <T>(operation: string, p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      errors.inc({ operation });
      throw err;
    });
  return {
    append: async (streamId, events, opts) => {
      const end = append.startTimer();
      try {
        const result = await store.append(streamId, events, opts);
        end({ outcome: 'ok' });
        return result;
      } catch (err) {
        const conflict = err instanceof ConcurrencyError;
        end({ outcome: conflict ? 'conflict' : 'error' });
        if (!conflict) errors.inc({ operation: 'append' });
        throw err;
      }
    },
    readStream: (streamId, opts) => counted('read_stream', store.readStream(streamId, opts)),
    readAll: (opts) => counted('read_all', store.readAll(opts)),
    subscribeToAll: (opts) => store.subscribeToAll(opts),
    headPosition: (opts) => counted('head_position', store.headPosition(opts)),
    archive: (opts) => counted('archive', store.archive(opts)),
    close: () => store.close(),
  };
}
