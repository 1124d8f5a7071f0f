import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { JetStreamClient } from '@nats-io/jetstream';
import pg from 'pg';
import { createEventStore, type EventStore, type StoredEvent } from '@flotilla/eventstore';
import { Messaging } from '@flotilla/messaging';
import { createTestDatabase, createTestNamespace, eventually, type TestDatabase, type TestNamespace } from '@flotilla/testing';
import { createReadModelOrm, migrateReadModels } from './orm.js';
import { EventRelay, POSITION_HEADER } from './relay.js';
import { meta } from './testing/fixtures.js';

/** The same connection, except that the n-th JetStream publish fails before it is sent (once). */
function failingNthPublish(messaging: Messaging, n: number): Messaging {
  let calls = 0;
  const faulty = Object.create(messaging) as Messaging;
  faulty.js = () => {
    const js = messaging.js();
    return new Proxy(js, {
      get(target, prop) {
        if (prop === 'publish') {
          return (...args: Parameters<JetStreamClient['publish']>) => (++calls === n ? Promise.reject(new Error('injected publish failure')) : target.publish(...args));
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return faulty;
}

describe('relay', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let store: EventStore;
  let pool: pg.Pool;
  let messaging: Messaging;

  beforeAll(async () => {
    db = await createTestDatabase('relay');
    ns = createTestNamespace();
    store = await createEventStore({ kind: 'postgres', url: db.url });
    const orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    await orm.close();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    messaging = await Messaging.connect({ servers: [ns.natsUrl], namespace: ns.prefix, name: 'relay-test', requestTimeoutMs: 5000 });
  });

  afterAll(async () => {
    await messaging.close();
    await store.close();
    await pool.end();
    await db.drop();
    await ns.cleanup();
  });

  it('relay skips no event when one publish in the middle of a pipelined batch fails', async () => {
    const written: StoredEvent[] = [];
    for (let i = 0; i < 10; i++) written.push(...(await store.append(`tick-${i % 3}`, [{ type: 'Tick', data: { i }, metadata: meta() }], { expectedRevision: 'any' })).events);

    // The third publish of the first batch fails; the messages pipelined after it must not be
    // stored past the hole, or the next run (resuming after the stream's last message) skips it.
    const first = new EventRelay(failingNthPublish(messaging, 3), store, pool, { batchSize: 5 });
    await expect(first.run(new AbortController().signal)).rejects.toThrow();

    const controller = new AbortController();
    const relay = new EventRelay(messaging, store, pool, { batchSize: 5 });
    const running = relay.run(controller.signal).catch(() => undefined);
    const jsm = await messaging.jsm();
    try {
      await eventually(async () => (await jsm.streams.info(relay.streamName)).state.messages, { until: (messages) => messages >= written.length, timeoutMs: 10_000, intervalMs: 50, what: `${written.length} events on JetStream` });
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      controller.abort();
      await running;
    }

    const info = await jsm.streams.info(relay.streamName);
    const stored: { id: string; position: bigint }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(relay.streamName, { seq });
      stored.push({ id: (msg!.json() as { id: string }).id, position: BigInt(msg!.header.get(POSITION_HEADER)) });
    }
    expect(stored.map((m) => m.id)).toEqual(written.map((e) => e.id));
  });

  it('re-feeds a stream that was wiped from the event store', async () => {
    const relay = new EventRelay(messaging, store, pool, { batchSize: 50 });
    const jsm = await messaging.jsm();
    const before = (await jsm.streams.info(relay.streamName)).state.messages;
    expect(before).toBeGreaterThan(0);
    await jsm.streams.delete(relay.streamName);
    const controller = new AbortController();
    const running = relay.run(controller.signal).catch(() => undefined);
    const count = async () => (await jsm.streams.info(relay.streamName).catch(() => undefined))?.state.messages ?? 0;
    try {
      await eventually(count, { until: (messages) => messages >= before, timeoutMs: 10_000, intervalMs: 50, what: `the ${before} events on JetStream again` });
    } finally {
      controller.abort();
      await running;
    }
    expect(await count()).toBe(before);
  });
});
