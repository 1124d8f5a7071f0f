import { ValidationError } from '@flotilla/domain';
import type { EventStore, Upcasters } from './event-store.port.js';
import { EventStoreDbEventStore } from './eventstoredb/eventstoredb.event-store.js';
import { PostgresEventStore } from './postgres/postgres.event-store.js';

export type EventStoreConfig =
  | { kind: 'postgres'; url: string; poolSize?: number; schema?: string }
  | { kind: 'eventstoredb'; url: string };

export interface EventStoreFactoryOptions {
  upcasters?: Upcasters;
  /** PostgreSQL only: create the schema if missing before returning (default true). */
  ensureSchema?: boolean;
}

/** The configuration variables (from @flotilla/config) that pick and locate the store. */
export interface EventStoreEnv {
  EVENT_STORE: 'postgres' | 'eventstoredb';
  EVENTSTORE_URL?: string | undefined;
  DATABASE_URL: string;
  DATABASE_POOL_SIZE?: number | undefined;
}

/** EVENT_STORE=postgres uses DATABASE_URL; EVENT_STORE=eventstoredb needs EVENTSTORE_URL. */
export function eventStoreConfigFromEnv(env: EventStoreEnv): EventStoreConfig {
  if (env.EVENT_STORE === 'eventstoredb') {
    if (!env.EVENTSTORE_URL) {
      throw new ValidationError('EVENT_STORE=eventstoredb needs EVENTSTORE_URL', [
        { path: 'EVENTSTORE_URL', message: 'required when EVENT_STORE=eventstoredb' },
      ]);
    }
    return { kind: 'eventstoredb', url: env.EVENTSTORE_URL };
  }
  return {
    kind: 'postgres',
    url: env.DATABASE_URL,
    ...(env.DATABASE_POOL_SIZE ? { poolSize: env.DATABASE_POOL_SIZE } : {}),
  };
}

/** Builds the configured adapter, ready to use (the PostgreSQL schema exists when this resolves). */
export async function createEventStore(
  config: EventStoreConfig,
  options: EventStoreFactoryOptions = {},
): Promise<EventStore> {
  switch (config.kind) {
    case 'postgres': {
      const store = new PostgresEventStore({
        url: config.url,
        ...(config.poolSize !== undefined ? { poolSize: config.poolSize } : {}),
        ...(config.schema !== undefined ? { schema: config.schema } : {}),
        ...(options.upcasters ? { upcasters: options.upcasters } : {}),
      });
      if (options.ensureSchema !== false) {
        try {
          await store.ensureSchema();
        } catch (err) {
          await store.close();
          throw err;
        }
      }
      return store;
    }
    case 'eventstoredb':
      return new EventStoreDbEventStore({
        url: config.url,
        ...(options.upcasters ? { upcasters: options.upcasters } : {}),
      });
    default: {
      const unknown: never = config;
      throw new ValidationError(`unknown event store kind ${JSON.stringify(unknown)}`, [
        { path: 'kind', message: 'must be postgres or eventstoredb' },
      ]);
    }
  }
}
