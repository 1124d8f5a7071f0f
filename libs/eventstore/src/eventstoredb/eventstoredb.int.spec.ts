import { describe, expect, it } from '@jest/globals';
import { UnavailableError } from '@flotilla/domain';
import { createEventStore } from '../event-store.factory.js';
import { newEvent, runEventStoreContract } from '../testing/event-store.contract.js';
import { EventStoreDbEventStore } from './eventstoredb.event-store.js';

/**
 * The contract suite runs against a real EventStoreDB / KurrentDB when EVENTSTORE_URL is set
 * (docker-compose runs one: EVENTSTORE_URL=esdb://127.0.0.1:2113?tls=false). No server can run
 * on the development machines, so without it only the adapter's failure mapping is exercised,
 * against a port where nothing listens, and a skipped test says why the suite did not run.
 */
const url = process.env['EVENTSTORE_URL'];

describe('EventStoreDB adapter', () => {
  it('reports an unreachable server as UnavailableError', async () => {
    const store = await createEventStore({
      kind: 'eventstoredb',
      url: 'esdb://127.0.0.1:1?tls=false',
    });
    expect(store).toBeInstanceOf(EventStoreDbEventStore);
    try {
      await expect(
        store.append('unreachable-1', [newEvent('A')], { expectedRevision: 'any' }),
      ).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.readStream('unreachable-1')).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.readAll({ limit: 1 })).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.headPosition()).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await store.close();
    }
  });

  if (!url) {
    // Reported as skipped (not passed) in the totals, with the reason in its name.
    it.skip('contract suite skipped: EVENTSTORE_URL is not set and no EventStoreDB server can run on this machine (docker-compose runs one; set EVENTSTORE_URL=esdb://host:2113?tls=false to run it)', () => undefined);
  }
});

if (url) {
  runEventStoreContract({
    name: `EventStoreDB (${url})`,
    open: async ({ upcasters }) =>
      new EventStoreDbEventStore({ url, ...(upcasters ? { upcasters } : {}) }),
  });
}
