import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FencedOutError, UnavailableError } from '@flotilla/domain';
import { createTestDatabase, eventually, type TestDatabase } from '@flotilla/testing';
import pg from 'pg';
import type { EventStore, StoredEvent } from '../event-store.port.js';
import { createEventStore } from '../event-store.factory.js';
import { newEvent, runEventStoreContract, settled } from '../testing/event-store.contract.js';
import { holdCommitsOpen } from '../testing/hold-commits-open.js';
import { decodePosition } from './position.js';
import { eventStorePool, PostgresEventStore, type PostgresEventStoreOptions } from './postgres.event-store.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('eventstore');
});

afterAll(async () => {
  await db?.drop();
});

const SCHEMA = 'contract';

async function openStore(
  options: Partial<PostgresEventStoreOptions> = {},
): Promise<PostgresEventStore> {
  const store = new PostgresEventStore({ url: db.url, schema: SCHEMA, poolSize: 20, ...options });
  await store.ensureSchema();
  return store;
}

/** A store whose appends to the streams `delayMs` picks commit that many milliseconds late. */
const openWithLateCommits = (delayMs: (streamId: string) => number, options: Partial<PostgresEventStoreOptions> & { poolSize: number }) =>
  openStore({ ...options, pool: holdCommitsOpen(eventStorePool({ url: db.url, poolSize: options.poolSize }), delayMs) });

runEventStoreContract({
  name: 'PostgreSQL',
  open: ({ upcasters }) => openStore(upcasters ? { upcasters } : {}),
  openWithSlowCommits: ({ prefix, delayMs }) => openWithLateCommits((streamId) => (streamId.startsWith(prefix) ? delayMs : 0), { poolSize: 16 }),
  archives: true,
});

/** Waits until some session of the test database sits in pg_sleep (a held-open append). */
async function waitForSleepingAppend(admin: pg.Client): Promise<void> {
  // 1 s: the time 200 tries 5 ms apart took at the least.
  await eventually(
    async () => {
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep%'`,
      );
      return Number(rows[0]!.n) > 0;
    },
    { timeoutMs: 1_000, intervalMs: 5, what: 'the held-open append to start' },
  );
}

function collect(store: EventStore, after: bigint, streams: readonly string[]) {
  const received: StoredEvent[] = [];
  const subscription = store.subscribeToAll({ after, filter: (e) => streams.includes(e.streamId) });
  const done = (async () => {
    for await (const e of subscription) received.push(e);
  })();
  return {
    received,
    stop: async () => {
      await subscription.close();
      await done;
    },
  };
}

/** Waits until the subscriber has received exactly `count` events; returns how long that took, in ms. */
async function receivedCount(subscriber: { received: unknown[] }, count: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await eventually(() => subscriber.received.length === count, {
    timeoutMs,
    intervalMs: 2,
    what: `${count} events at the subscriber`,
  });
  return performance.now() - started;
}

describe('PostgreSQL adapter', () => {
  let store: PostgresEventStore;
  let admin: pg.Client;

  beforeAll(async () => {
    store = await openStore();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });

  afterAll(async () => {
    await store?.close();
    await admin?.end();
  });

  it('never lets a reader pass an event that commits late (where a sequence-ordered reader would skip it)', async () => {
    const slow = await openWithLateCommits((id) => (id.startsWith('late-') ? 400 : 0), { poolSize: 2 });
    try {
      const head = await store.headPosition();
      const subscriber = collect(store, head, ['late-1', 'early-1']);
      const late = slow.append('late-1', [newEvent('Late')], { expectedRevision: 'no_stream' });
      await waitForSleepingAppend(admin);
      const early = await store.append('early-1', [newEvent('Early')], {
        expectedRevision: 'no_stream',
      });

      // A reader ordered by position alone sees `early` now and would move its checkpoint past `late`.
      const naive = await admin.query<{ position: string }>(
        `SELECT position FROM ${SCHEMA}.events WHERE position > $1 ORDER BY position`,
        [head.toString()],
      );
      expect(naive.rows.map((r) => BigInt(r.position))).toEqual([early.firstPosition]);

      // This store's readers hold back until the older transaction has finished.
      expect(await store.readAll({ after: head })).toEqual([]);
      expect(await store.headPosition()).toBe(head);
      // The committed head already names `early`: a process that must see every acknowledged
      // write waits for its readers to pass it (they will, once `late` finishes).
      expect(await store.headPosition({ committed: true })).toBe(early.lastPosition);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(subscriber.received).toEqual([]);

      const lateResult = await late;
      expect(lateResult.firstPosition).toBeLessThan(early.firstPosition);
      await settled(store, early.lastPosition);
      const expected = [lateResult.events[0]!.id, early.events[0]!.id];
      expect((await store.readAll({ after: head })).map((e) => e.id)).toEqual(expected);
      await receivedCount(subscriber, 2, 2_000);
      expect(subscriber.received.map((e) => e.id)).toEqual(expected);
      expect(await store.headPosition()).toBe(early.lastPosition);
      await subscriber.stop();
    } finally {
      await slow.close();
    }
  });

  it('delivers soon after an aborted transaction stops holding readers back, without waiting for the poll', async () => {
    const reader = await openStore({ pollIntervalMs: 5_000 });
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      const head = await reader.headPosition();
      const subscriber = collect(reader, head, ['abort-1']);
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()'); // an older transaction with an id: holds every reader's xmin
      await store.append('abort-1', [newEvent('Blocked')], { expectedRevision: 'no_stream' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(subscriber.received).toEqual([]);
      await blocker.query('ROLLBACK'); // no notification follows a rollback
      const waited = await receivedCount(subscriber, 1, 3_000);
      expect(waited).toBeLessThan(1_000);
      await subscriber.stop();
    } finally {
      await blocker.end();
      await reader.close();
    }
  });

  it('keeps delivering after its LISTEN connection is killed, and listens again', async () => {
    const reader = await openStore({ pollIntervalMs: 200 });
    try {
      const head = await reader.headPosition();
      const subscriber = collect(reader, head, ['relisten-1']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-listen'`,
      );
      expect(killed.rowCount).toBeGreaterThanOrEqual(1);
      await store.append('relisten-1', [newEvent('AfterKill')], { expectedRevision: 'no_stream' });
      await receivedCount(subscriber, 1, 2_000);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the poll re-listens in the background
      const started = performance.now();
      await store.append('relisten-1', [newEvent('Live')], { expectedRevision: 0n });
      await receivedCount(subscriber, 2, 2_000);
      expect(performance.now() - started).toBeLessThan(150);
      await subscriber.stop();
    } finally {
      await reader.close();
    }
  });

  it('derives positions from the writing transaction id and the index in the append', async () => {
    const result = await store.append('xid-1', [newEvent('A'), newEvent('B'), newEvent('C')], {
      expectedRevision: 'no_stream',
    });
    const { rows } = await admin.query<{ position: string; transaction_id: string }>(
      `SELECT position, transaction_id::text FROM ${SCHEMA}.events WHERE stream_id = 'xid-1' ORDER BY revision`,
    );
    expect(rows.map((r) => decodePosition(BigInt(r.position)))).toEqual(
      rows.map((r, index) => ({ xid: BigInt(r.transaction_id), index })),
    );
    expect(rows.map((r) => BigInt(r.position))).toEqual(result.events.map((e) => e.position));
  });

  it('creates its schema idempotently, also from concurrent processes, and isolates schemas', async () => {
    const stores = [0, 1, 2].map(
      () => new PostgresEventStore({ url: db.url, schema: 'isolated', poolSize: 2 }),
    );
    try {
      await Promise.all(stores.map((s) => s.ensureSchema()));
      await stores[0]!.ensureSchema();
      const before = await store.headPosition();
      await stores[1]!.append('iso-1', [newEvent('Elsewhere')], { expectedRevision: 'no_stream' });
      expect(await store.readStream('iso-1')).toEqual([]);
      expect(await store.headPosition()).toBe(before);
      expect(await stores[2]!.readStream('iso-1')).toHaveLength(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('is built by createEventStore, which creates the schema', async () => {
    const built = await createEventStore({
      kind: 'postgres',
      url: db.url,
      schema: 'factory',
      poolSize: 2,
    });
    try {
      expect(built).toBeInstanceOf(PostgresEventStore);
      const result = await built.append('factory-1', [newEvent('Built')], {
        expectedRevision: 'no_stream',
      });
      expect(await built.readStream('factory-1')).toEqual(result.events);
    } finally {
      await built.close();
    }
  });

  it('reports an unreachable or missing database as UnavailableError', async () => {
    const down = new PostgresEventStore({
      url: 'postgres://postgres@127.0.0.1:1/flotilla',
      connectionTimeoutMs: 2_000,
    });
    const missing = new PostgresEventStore({
      url: db.url.replace(/\/[^/]+$/, '/flotilla_no_such_database'),
      connectionTimeoutMs: 2_000,
    });
    try {
      for (const s of [down, missing]) {
        await expect(
          s.append('x-1', [newEvent('A')], { expectedRevision: 'any' }),
        ).rejects.toBeInstanceOf(UnavailableError);
        await expect(s.readAll()).rejects.toBeInstanceOf(UnavailableError);
        await expect(s.readStream('x-1')).rejects.toBeInstanceOf(UnavailableError);
        await expect(s.headPosition()).rejects.toBeInstanceOf(UnavailableError);
        await expect(s.ensureSchema()).rejects.toBeInstanceOf(UnavailableError);
        const iteration = s.subscribeToAll()[Symbol.asyncIterator]().next();
        await expect(iteration).rejects.toBeInstanceOf(UnavailableError);
      }
      await expect(
        createEventStore({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/flotilla' }),
      ).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await down.close();
      await missing.close();
    }
  });

  it("checks a singleton leader's fence inside the append's own transaction (a deposed leader's late write)", async () => {
    const store = await openWithLateCommits((id) => (id === 'fence-slow' ? 300 : 0), { schema: 'fenced', poolSize: 20 });
    try {
      const admitted = await store.append('fence-a', [newEvent('A')], { expectedRevision: 'any', fence: { role: 'reconciler', term: 5 } });
      expect(admitted.events).toHaveLength(1);
      await store.append('fence-a', [newEvent('B')], { expectedRevision: 'any', fence: { role: 'reconciler', term: 7 } });
      // The deposed leader (term 5) writes late: refused, and nothing of it is stored.
      const late = await store.append('fence-a', [newEvent('C')], { expectedRevision: 'any', fence: { role: 'reconciler', term: 5 } }).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(FencedOutError);
      expect((late as FencedOutError).details).toMatchObject({ reason: 'fenced_out', role: 'reconciler', term: 5, current_term: 7 });
      expect((await store.readStream('fence-a')).map((e) => e.type)).toEqual(['A', 'B']);
      // Check and write are one transaction: a leader's append still open holds the fence row, so a
      // successor's admission waits for it and lands after it, never between its check and its write.
      const slow = store.append('fence-slow', [newEvent('Old')], { expectedRevision: 'any', fence: { role: 'breaker', term: 1 } });
      await new Promise((r) => setTimeout(r, 50));
      await store.append('fence-b', [newEvent('New')], { expectedRevision: 'any', fence: { role: 'breaker', term: 2 } });
      const old = await slow;
      const newer = (await store.readStream('fence-b'))[0]!;
      expect(old.lastPosition).toBeLessThan(newer.position);
      await expect(store.append('fence-b', [newEvent('Older')], { expectedRevision: 'any', fence: { role: 'breaker', term: 1 } })).rejects.toBeInstanceOf(FencedOutError);
    } finally {
      await store.close();
    }
  });

  it('serves subscriptions of different categories from one shared read, each its own events in order', async () => {
    const store = await openStore({ schema: 'shared_reads' });
    try {
      const head = await store.headPosition();
      const all: StoredEvent[] = [];
      const onlyA: StoredEvent[] = [];
      const onlyB: StoredEvent[] = [];
      const controller = new AbortController();
      const consume = async (sub: AsyncIterable<StoredEvent>, into: StoredEvent[]) => {
        for await (const e of sub) into.push(e);
      };
      const done = Promise.all([
        consume(store.subscribeToAll({ after: head, signal: controller.signal }), all),
        consume(store.subscribeToAll({ after: head, signal: controller.signal, categories: ['sharea'] }), onlyA),
        consume(store.subscribeToAll({ after: head, signal: controller.signal, categories: ['shareb'] }), onlyB),
      ]).catch(() => undefined);
      const written: StoredEvent[] = [];
      for (let i = 0; i < 60; i++) written.push(...(await store.append(`${i % 3 === 0 ? 'shareb' : 'sharea'}-${i % 4}`, [newEvent('Tick', { i })], { expectedRevision: 'any' })).events);
      try {
        await eventually(() => all.length >= written.length, { timeoutMs: 5000, what: () => `${written.length} events at the unfiltered subscriber (has ${all.length})` });
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        controller.abort();
        await done;
      }
      const ids = (xs: StoredEvent[]) => xs.map((e) => e.id);
      expect(ids(all)).toEqual(ids(written));
      expect(ids(onlyA)).toEqual(ids(written.filter((e) => e.streamId.startsWith('sharea-'))));
      expect(ids(onlyB)).toEqual(ids(written.filter((e) => e.streamId.startsWith('shareb-'))));
    } finally {
      await store.close();
    }
  });

  it('archives while subscriptions catch up and writers append: each subscriber gets every event once, in order; the rows leave the live table, compressed', async () => {
    const store = await openStore({ schema: 'archiving' });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const written: StoredEvent[] = [];
      const write = async (from: number, to: number) => {
        for (let i = from; i < to; i += 10) {
          const stream = `${i % 30 < 15 ? 'arch' : 'keep'}-${(i / 10) % 7}`;
          written.push(...(await store.append(stream, Array.from({ length: 10 }, (_, k) => newEvent('Tick', { i: i + k, pad: 'x'.repeat(200) })), { expectedRevision: 'any' })).events);
        }
      };
      await write(0, 3000);
      await settled(store, written.at(-1)!.position);
      const expected = await store.readAll();
      // Three catch-up subscribers (all, one category, one slow one) race the archiver and a writer.
      const controller = new AbortController();
      const all: StoredEvent[] = [];
      const arch: StoredEvent[] = [];
      const slow: StoredEvent[] = [];
      const consume = async (sub: AsyncIterable<StoredEvent>, into: StoredEvent[], pauseEvery = 0) => {
        for await (const e of sub) {
          into.push(e);
          if (pauseEvery && into.length % pauseEvery === 0) await new Promise((r) => setTimeout(r, 1));
        }
      };
      const done = Promise.all([
        consume(store.subscribeToAll({ batchSize: 64, signal: controller.signal }), all),
        consume(store.subscribeToAll({ batchSize: 50, signal: controller.signal, categories: ['arch'] }), arch),
        consume(store.subscribeToAll({ batchSize: 37, signal: controller.signal }), slow, 100),
      ]).catch(() => undefined);
      const [archived] = await Promise.all([store.archive({ before: new Date(Date.now() + 60_000), chunkEvents: 250 }), write(3000, 3500)]);
      await settled(store, written.at(-1)!.position);
      try {
        await eventually(() => all.length >= written.length && slow.length >= written.length, {
          timeoutMs: 20_000,
          what: () => `${written.length} events at the subscribers (have ${all.length}, ${slow.length})`,
        });
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        controller.abort();
        await done;
      }
      const ids = (xs: readonly StoredEvent[]) => xs.map((e) => e.id);
      expect(ids(all)).toEqual(ids(written));
      expect(ids(slow)).toEqual(ids(written));
      expect(ids(arch)).toEqual(ids(written.filter((e) => e.streamId.startsWith('arch-'))));
      // What was there before reads back the same, now from the archive.
      expect((await store.readAll()).slice(0, expected.length)).toEqual(expected);

      // The archived rows left the live table; the chunks hold them compressed.
      expect(archived.events).toBeGreaterThanOrEqual(3000);
      const live = await admin.query<{ n: string; min: string | null }>(`SELECT count(*) AS n, min(position)::text AS min FROM archiving.events`);
      expect(Number(live.rows[0]!.n)).toBe(written.length - archived.events);
      if (live.rows[0]!.min !== null) expect(BigInt(live.rows[0]!.min)).toBeGreaterThan(archived.archivedThrough);
      const chunks = await admin.query<{ events: string; raw: string; stored: string }>(
        `SELECT sum(event_count)::text AS events, sum(raw_bytes)::text AS raw, sum(octet_length(body))::text AS stored FROM archiving.archive_chunks`,
      );
      expect(Number(chunks.rows[0]!.events)).toBe(archived.events);
      expect(Number(chunks.rows[0]!.stored)).toBe(archived.compressedBytes);
      expect(archived.compressedBytes).toBeLessThan(archived.rawBytes / 4);
    } finally {
      await admin.end();
      await store.close();
    }
  }, 60_000);

  it('under the longest schema name allowed, every statement (the archive\'s too) keeps a name of its own', async () => {
    const schema = `long_${'x'.repeat(30)}`;
    expect(schema).toHaveLength(35);
    let refused: unknown;
    try {
      new PostgresEventStore({ url: db.url, schema: `${schema}y` });
    } catch (err) {
      refused = err;
    }
    expect(JSON.stringify(refused)).toContain('at most 35 characters');
    const store = await openStore({ schema, poolSize: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        await store.append('longa-1', [newEvent('A', { i })], { expectedRevision: 'any' });
        await store.append('longb-1', [newEvent('B', { i })], { expectedRevision: 'any' });
      }
      await settled(store, await store.headPosition({ committed: true }));
      const reads = async () => [
        await store.readStream('longa-1'),
        await store.readStream('longa-1', { direction: 'backwards', limit: 4 }),
        await store.readAll({ limit: 5 }),
        await store.readAll({ categories: ['longb'] }),
        await store.headPosition({ categories: ['longa'] }),
        await store.headPosition(),
      ];
      const before = await reads();
      await store.archive({ before: new Date(Date.now() + 60_000), chunkEvents: 2 });
      // One connection: every statement is prepared on it, so two sharing a name would collide.
      expect(await reads()).toEqual(before);
    } finally {
      await store.close();
    }
  });
});
