import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@flotilla/domain';
import { createEventStore, eventStoreConfigFromEnv } from './event-store.factory.js';
import { EventStoreDbEventStore } from './eventstoredb/eventstoredb.event-store.js';
import { PostgresEventStore } from './postgres/postgres.event-store.js';

describe('event store factory', () => {
  it('reads EVENT_STORE, EVENTSTORE_URL and DATABASE_URL', () => {
    expect(
      eventStoreConfigFromEnv({
        EVENT_STORE: 'postgres',
        DATABASE_URL: 'postgres://db/flotilla',
        DATABASE_POOL_SIZE: 7,
      }),
    ).toEqual({
      kind: 'postgres',
      url: 'postgres://db/flotilla',
      poolSize: 7,
    });
    expect(
      eventStoreConfigFromEnv({
        EVENT_STORE: 'eventstoredb',
        EVENTSTORE_URL: 'esdb://es:2113?tls=false',
        DATABASE_URL: 'postgres://db/x',
      }),
    ).toEqual({
      kind: 'eventstoredb',
      url: 'esdb://es:2113?tls=false',
    });
    expect(() =>
      eventStoreConfigFromEnv({ EVENT_STORE: 'eventstoredb', DATABASE_URL: 'postgres://db/x' }),
    ).toThrow(ValidationError);
  });

  it('selects the adapter from the configuration (without I/O until used)', async () => {
    const pg = await createEventStore(
      { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none' },
      { ensureSchema: false },
    );
    const esdb = await createEventStore({
      kind: 'eventstoredb',
      url: 'esdb://127.0.0.1:1?tls=false',
    });
    expect(pg).toBeInstanceOf(PostgresEventStore);
    expect(esdb).toBeInstanceOf(EventStoreDbEventStore);
    await Promise.all([pg.close(), esdb.close()]);
  });
});
