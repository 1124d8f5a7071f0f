/**
 * The contract every EventStore adapter passes, parameterised by adapter. It runs against a
 * real server (PostgreSQL here, EventStoreDB when EVENTSTORE_URL is set), never a mock.
 *
 * The log may be shared (an EventStoreDB server, or other tests of the same file): every test
 * writes to streams under its own unique prefix, starts global reads at the head it saw before
 * writing, and looks only at its own streams.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConcurrencyError, ValidationError } from '@flotilla/domain';
import { eventually } from '@flotilla/testing';
import { v7 as uuidv7, version as uuidVersion } from 'uuid';
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  EventSubscription,
  ExpectedRevision,
  NewEvent,
  StoredEvent,
  Upcasters,
} from '../event-store.port.js';

export interface ContractTarget {
  /** Shown in the suite's name. */
  readonly name: string;
  /** Opens a store on the log under test; the suite closes every store it opens. */
  open(options: { upcasters?: Upcasters }): Promise<EventStore>;
  /**
   * Optional: a store on the same log whose appends to streams starting with `prefix` keep their
   * transaction open for `delayMs` before committing, so commits land out of order on demand.
   */
  openWithSlowCommits?(options: { prefix: string; delayMs: number }): Promise<EventStore>;
  /** The adapter archives (`archive()` moves old events to its archive); otherwise it must refuse. */
  readonly archives?: boolean;
}

export interface ContractTuning {
  /** Concurrent writers in the ordering test (default 16). */
  writers?: number;
  /** Appends per writer in the ordering test (default 200). */
  appendsPerWriter?: number;
  /** Events in the large-stream test (default 10,000). */
  largeStreamEvents?: number;
  /** Live delivery budget in ms (default 100). */
  liveLatencyMs?: number;
}

export function metadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    tenantId: 'tenant-1',
    actor: 'user:contract',
    correlationId: uuidv7(),
    causationId: null,
    traceparent: null,
    schemaVersion: 1,
    ...overrides,
  };
}

export function newEvent(
  type: string,
  data: Record<string, unknown> = {},
  extra: Partial<NewEvent> = {},
): NewEvent {
  return { type, data, metadata: metadata(), ...extra };
}

/** Re-sending an append's events as a retry would: same ids, same content. */
function asRetry(result: AppendResult): NewEvent[] {
  return result.events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata }));
}

/**
 * Waits until global readers can see `position` (read-your-writes). On PostgreSQL any write
 * transaction on the server, even another database's, briefly holds the visibility horizon back.
 */
export async function settled(
  store: EventStore,
  position: bigint,
  timeoutMs = 10_000,
): Promise<void> {
  await eventually(async () => (await store.headPosition()) >= position, {
    timeoutMs,
    intervalMs: 5,
    what: `position ${position} to be visible to readers`,
  });
}

interface Consumer {
  readonly received: StoredEvent[];
  readonly error: () => unknown;
  stop(): Promise<void>;
}

/** Drains a subscription in the background (as a projection would), recording what it gets. */
function consume(
  subscription: EventSubscription,
  onEvent?: (event: StoredEvent, count: number) => void,
): Consumer {
  const received: StoredEvent[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const event of subscription) {
        received.push(event);
        onEvent?.(event, received.length);
      }
    } catch (err) {
      failure = err;
    }
  })();
  return {
    received,
    error: () => failure,
    stop: async () => {
      await subscription.close();
      await done;
    },
  };
}

async function expectConcurrencyError(
  promise: Promise<unknown>,
  details: { streamId: string; expected: string; actual: string },
): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConcurrencyError);
  expect((err as ConcurrencyError).code).toBe('concurrency_conflict');
  expect((err as ConcurrencyError).details).toEqual(details);
}

async function expectValidationError(promise: Promise<unknown>, path?: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  if (path !== undefined)
    expect((err as ValidationError).issues.map((i) => i.path)).toContain(path);
}

function expectStrictlyIncreasing(values: readonly bigint[]): void {
  for (let i = 1; i < values.length; i++) {
    if (values[i]! <= values[i - 1]!)
      throw new Error(
        `positions not strictly increasing at index ${i}: ${values[i - 1]} then ${values[i]}`,
      );
  }
}

/** Every stream's events arrive as revisions 0, 1, 2, ... (relative to its first event seen). */
function expectRevisionsInOrder(events: readonly StoredEvent[]): void {
  const next = new Map<string, bigint>();
  for (const e of events) {
    const expected = next.get(e.streamId) ?? 0n;
    if (e.revision !== expected)
      throw new Error(
        `stream ${e.streamId}: revision ${e.revision} arrived when ${expected} was due`,
      );
    next.set(e.streamId, expected + 1n);
  }
}

/** A pseudo-random but reproducible sequence, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function runEventStoreContract(target: ContractTarget, tuning: ContractTuning = {}): void {
  const writers = tuning.writers ?? 16;
  const appendsPerWriter = tuning.appendsPerWriter ?? 200;
  const largeStreamEvents = tuning.largeStreamEvents ?? 10_000;
  const liveLatencyMs = tuning.liveLatencyMs ?? 100;

  describe(`EventStore contract: ${target.name}`, () => {
    let store: EventStore;
    const opened: EventStore[] = [];
    const run = uuidv7().replace(/-/g, '').slice(-10);
    let counter = 0;
    /** A stream id no other test (or run) uses. */
    const streamId = (label: string): string => `${label}-${run}-${++counter}`;
    const open = async (options: { upcasters?: Upcasters } = {}): Promise<EventStore> => {
      const s = await target.open(options);
      opened.push(s);
      return s;
    };

    beforeAll(async () => {
      store = await open();
    });

    afterAll(async () => {
      await Promise.all(opened.map((s) => s.close()));
    });

    describe('append', () => {
      it('appends to a new stream and returns revisions, positions and the stored events', async () => {
        const id = streamId('cluster');
        const result = await store.append(
          id,
          [newEvent('ClusterCreated', { name: 'a' }), newEvent('ClusterScaled', { to: 3 })],
          {
            expectedRevision: 'no_stream',
          },
        );
        expect(result.streamId).toBe(id);
        expect(result.nextExpectedRevision).toBe(1n);
        expect(result.events.map((e) => e.revision)).toEqual([0n, 1n]);
        expect(result.events.map((e) => e.type)).toEqual(['ClusterCreated', 'ClusterScaled']);
        expect(result.firstPosition).toBe(result.events[0]!.position);
        expect(result.lastPosition).toBe(result.events[1]!.position);
        expect(result.lastPosition).toBeGreaterThan(result.firstPosition);
        for (const e of result.events) {
          expect(uuidVersion(e.id)).toBe(7);
          expect(e.streamId).toBe(id);
          expect(e.occurredAt).toBeInstanceOf(Date);
        }
        expect(await store.readStream(id)).toEqual(result.events);
      });

      const ok = 'ok' as const;
      const cases: Array<
        [string, 'missing' | 'at revision 1', ExpectedRevision, typeof ok | string]
      > = [
        ['any on a missing stream', 'missing', 'any', ok],
        ['no_stream on a missing stream', 'missing', 'no_stream', ok],
        ['exists on a missing stream', 'missing', 'exists', 'no_stream'],
        ['0n on a missing stream', 'missing', 0n, 'no_stream'],
        ['any on an existing stream', 'at revision 1', 'any', ok],
        ['no_stream on an existing stream', 'at revision 1', 'no_stream', '1'],
        ['exists on an existing stream', 'at revision 1', 'exists', ok],
        ['its current revision', 'at revision 1', 1n, ok],
        ['an older revision', 'at revision 1', 0n, '1'],
        ['a future revision', 'at revision 1', 2n, '1'],
      ];
      it.each(cases)('expected revision: %s', async (_name, state, expected, outcome) => {
        const id = streamId('rules');
        if (state === 'at revision 1')
          await store.append(id, [newEvent('A'), newEvent('B')], { expectedRevision: 'no_stream' });
        const attempt = store.append(id, [newEvent('C')], { expectedRevision: expected });
        if (outcome === ok) {
          const result = await attempt;
          expect(result.nextExpectedRevision).toBe(state === 'missing' ? 0n : 2n);
        } else {
          await expectConcurrencyError(attempt, {
            streamId: id,
            expected: typeof expected === 'bigint' ? expected.toString() : expected,
            actual: outcome,
          });
          expect(await store.readStream(id)).toHaveLength(state === 'missing' ? 0 : 2);
        }
      });

      it('lets exactly one of several appends expecting the same revision win', async () => {
        const id = streamId('race');
        await store.append(id, [newEvent('A')], { expectedRevision: 'no_stream' });
        const attempts = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.append(id, [newEvent('B', { i })], { expectedRevision: 0n }),
          ),
        );
        const won = attempts.filter((a) => a.status === 'fulfilled');
        const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(7);
        for (const l of lost) {
          expect(l.reason).toBeInstanceOf(ConcurrencyError);
          expect((l.reason as ConcurrencyError).details).toEqual({
            streamId: id,
            expected: '0',
            actual: '1',
          });
        }
        expect(await store.readStream(id)).toHaveLength(2);
      });

      it.each<[string, ExpectedRevision | 'exact']>([
        ['no_stream', 'no_stream'],
        ['an exact revision', 'exact'],
        ['any', 'any'],
        ['exists', 'exists'],
      ])(
        'treats a retry of a stored batch (same ids) as a no-op returning the original result: %s',
        async (_name, expectation) => {
          const id = streamId('retry');
          let expected: ExpectedRevision = expectation === 'exact' ? 0n : expectation;
          if (expectation !== 'no_stream')
            await store.append(id, [newEvent('Before')], { expectedRevision: 'no_stream' });
          if (expectation === 'exact') expected = 0n;
          const batch = [
            newEvent('A', { n: 1 }, { id: uuidv7() }),
            newEvent('B', { n: 2 }, { id: uuidv7() }),
          ];
          const first = await store.append(id, batch, { expectedRevision: expected });
          const again = await store.append(id, asRetry(first), { expectedRevision: expected });
          expect(again).toEqual(first);
          // A late retry, after someone else appended, still answers with the original result.
          await store.append(id, [newEvent('After')], { expectedRevision: 'any' });
          const late = await store.append(id, batch, { expectedRevision: expected });
          expect(late).toEqual(first);
          const ids = (await store.readStream(id)).map((e) => e.id);
          expect(ids.filter((x) => x === batch[0]!.id)).toHaveLength(1);
          expect(ids).toHaveLength(expectation === 'no_stream' ? 3 : 4);
        },
      );

      it('refuses an append that reuses ids of a different append', async () => {
        const id = streamId('reuse');
        const a = uuidv7();
        await store.append(
          id,
          [newEvent('A', {}, { id: a }), newEvent('B', {}, { id: uuidv7() })],
          { expectedRevision: 'no_stream' },
        );
        await expectValidationError(
          store.append(id, [newEvent('A', {}, { id: a }), newEvent('C', {}, { id: uuidv7() })], {
            expectedRevision: 'any',
          }),
        );
        expect(await store.readStream(id)).toHaveLength(2);
      });

      it('validates appends before writing anything', async () => {
        const id = streamId('invalid');
        await expectValidationError(store.append(id, [], { expectedRevision: 'any' }), 'events');
        const noTenant = { ...metadata() } as Partial<EventMetadata>;
        delete noTenant.tenantId;
        await expectValidationError(
          store.append(id, [{ type: 'A', data: {}, metadata: noTenant as EventMetadata }], {
            expectedRevision: 'any',
          }),
          'events[0].metadata.tenantId',
        );
        await expectValidationError(
          store.append(id, [newEvent('A', {}, { id: 'not-a-uuid' })], { expectedRevision: 'any' }),
          'events[0].id',
        );
        await expectValidationError(
          store.append(id, [newEvent('')], { expectedRevision: 'any' }),
          'events[0].type',
        );
        await expectValidationError(
          store.append(`$${id}`, [newEvent('A')], { expectedRevision: 'any' }),
          'streamId',
        );
        await expectValidationError(
          store.append(id, [newEvent('A')], { expectedRevision: -1n }),
          'expectedRevision',
        );
        expect(await store.readStream(id)).toEqual([]);
      });
    });

    describe('readStream', () => {
      let id: string;
      let written: StoredEvent[];

      beforeAll(async () => {
        id = streamId('read');
        const result = await store.append(
          id,
          Array.from({ length: 10 }, (_, i) => newEvent('Counted', { i })),
          { expectedRevision: 'no_stream' },
        );
        written = result.events;
      });

      it('reads forwards, from a revision, with a limit', async () => {
        expect(await store.readStream(id)).toEqual(written);
        expect((await store.readStream(id, { fromRevision: 4n })).map((e) => e.revision)).toEqual([
          4n,
          5n,
          6n,
          7n,
          8n,
          9n,
        ]);
        expect(
          (await store.readStream(id, { fromRevision: 2n, limit: 3 })).map((e) => e.data['i']),
        ).toEqual([2, 3, 4]);
        expect(await store.readStream(id, { fromRevision: 10n })).toEqual([]);
        expect(await store.readStream(id, { limit: 0 })).toEqual([]);
      });

      it('reads backwards, from the end or from a revision', async () => {
        expect(
          (await store.readStream(id, { direction: 'backwards' })).map((e) => e.revision),
        ).toEqual(written.map((e) => e.revision).reverse());
        expect(
          (await store.readStream(id, { direction: 'backwards', limit: 2 })).map((e) => e.revision),
        ).toEqual([9n, 8n]);
        expect(
          (await store.readStream(id, { direction: 'backwards', fromRevision: 3n })).map(
            (e) => e.revision,
          ),
        ).toEqual([3n, 2n, 1n, 0n]);
      });

      it('returns [] for a stream that does not exist', async () => {
        expect(await store.readStream(streamId('missing'))).toEqual([]);
        expect(await store.readStream(streamId('missing'), { direction: 'backwards' })).toEqual([]);
      });
    });

    describe('readAll and headPosition', () => {
      it('returns events in append order across streams, after an exclusive checkpoint, page by page', async () => {
        const head = await store.headPosition();
        const [a, b, c] = [streamId('all-a'), streamId('all-b'), streamId('all-c')];
        const results: AppendResult[] = [];
        results.push(
          await store.append(a, [newEvent('A1'), newEvent('A2')], {
            expectedRevision: 'no_stream',
          }),
        );
        results.push(await store.append(b, [newEvent('B1')], { expectedRevision: 'no_stream' }));
        results.push(await store.append(a, [newEvent('A3')], { expectedRevision: 1n }));
        results.push(
          await store.append(c, [newEvent('C1'), newEvent('C2'), newEvent('C3')], {
            expectedRevision: 'no_stream',
          }),
        );
        results.push(await store.append(b, [newEvent('B2')], { expectedRevision: 0n }));
        const expected = results.flatMap((r) => r.events);
        const ours = new Set([a, b, c]);
        await settled(store, results[results.length - 1]!.lastPosition);

        const all = (await store.readAll({ after: head })).filter((e) => ours.has(e.streamId));
        expect(all).toEqual(expected);
        expectStrictlyIncreasing(all.map((e) => e.position));

        const paged: StoredEvent[] = [];
        let after = head;
        for (;;) {
          const page = await store.readAll({ after, limit: 2 });
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(2);
          paged.push(...page.filter((e) => ours.has(e.streamId)));
          after = page[page.length - 1]!.position;
          if (after >= expected[expected.length - 1]!.position) break;
        }
        expect(paged).toEqual(expected);

        // Exclusive checkpoint: starting at an event's position returns what follows it.
        const tail = (await store.readAll({ after: expected[2]!.position })).filter((e) =>
          ours.has(e.streamId),
        );
        expect(tail).toEqual(expected.slice(3));
        expect(await store.readAll({ after: head, limit: 0 })).toEqual([]);
      });

      it('reports the head position of the log', async () => {
        const result = await store.append(streamId('head'), [newEvent('A'), newEvent('B')], {
          expectedRevision: 'no_stream',
        });
        await settled(store, result.lastPosition);
        const head = await store.headPosition();
        expect(head).toBeGreaterThanOrEqual(result.lastPosition);
        expect(
          (await store.readAll({ after: result.lastPosition })).filter(
            (e) => e.streamId === result.streamId,
          ),
        ).toEqual([]);
      });

      it('round-trips data and every metadata field', async () => {
        const id = streamId('roundtrip');
        const meta = metadata({
          tenantId: 'tenant-42',
          actor: 'api-key:ops',
          causationId: uuidv7(),
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          schemaVersion: 2,
          origin: 'contract',
        });
        const data = {
          nested: { list: [1, 'two', null, { three: 3.5 }], flag: true },
          text: 'naïve ✓ 🚀',
          empty: {},
          big: 2 ** 53 - 1,
        };
        const head = await store.headPosition();
        const result = await store.append(id, [{ type: 'Everything', data, metadata: meta }], {
          expectedRevision: 'no_stream',
        });
        const [fromStream] = await store.readStream(id);
        await settled(store, result.lastPosition);
        const fromAll = (await store.readAll({ after: head })).find((e) => e.streamId === id);
        for (const e of [result.events[0]!, fromStream!, fromAll!]) {
          expect(e.data).toEqual(data);
          expect(e.metadata).toEqual(meta);
          expect(Math.abs(e.occurredAt.getTime() - Date.now())).toBeLessThan(5 * 60_000);
        }
        expect(fromAll).toEqual(fromStream);
      });

      it('applies upcasters on every read path, chaining versions and renames', async () => {
        const upcasters: Upcasters = {
          AgentSpawned: (e) => {
            if (e.metadata.schemaVersion === 1)
              return {
                ...e,
                data: { ...e.data, role: 'worker' },
                metadata: { ...e.metadata, schemaVersion: 2 },
              };
            if (e.metadata.schemaVersion === 2) {
              const { name, ...rest } = e.data;
              return {
                ...e,
                data: { ...rest, agentName: name },
                metadata: { ...e.metadata, schemaVersion: 3 },
              };
            }
            return e;
          },
          AgentStarted_v0: (e) => ({ ...e, type: 'AgentStarted' }),
        };
        const reader = await open({ upcasters });
        const id = streamId('upcast');
        const head = await store.headPosition();
        const subscription = reader.subscribeToAll({
          after: head,
          filter: (e) => e.streamId === id,
        });
        const consumer = consume(subscription);
        const appended = await store.append(
          id,
          [
            newEvent('AgentSpawned', { name: 'w-1' }),
            newEvent('AgentStarted_v0', { at: 1 }),
            newEvent('Unrelated', { x: 1 }),
          ],
          {
            expectedRevision: 'no_stream',
          },
        );
        await settled(reader, appended.lastPosition);
        const expectShapes = (events: StoredEvent[]): void => {
          expect(events.map((e) => [e.type, e.metadata.schemaVersion, e.data])).toEqual([
            ['AgentSpawned', 3, { role: 'worker', agentName: 'w-1' }],
            ['AgentStarted', 1, { at: 1 }],
            ['Unrelated', 1, { x: 1 }],
          ]);
        };
        expectShapes(await reader.readStream(id));
        expectShapes((await reader.readAll({ after: head })).filter((e) => e.streamId === id));
        await eventually(
          () => consumer.received.length >= 3,
          { timeoutMs: 5_000, intervalMs: 5, what: () => `3 upcast events, got ${consumer.received.length}` },
        );
        await consumer.stop();
        expectShapes(consumer.received);
        // The stored shape is untouched.
        expect((await store.readStream(id))[0]!.data).toEqual({ name: 'w-1' });
      });
    });

    describe('subscribeToAll', () => {
      it('hands over from catch-up to live without gaps or duplicates', async () => {
        const prefix = streamId('handover');
        const head = await store.headPosition();
        const appendMany = async (from: number, count: number): Promise<StoredEvent[]> => {
          const out: StoredEvent[] = [];
          for (let i = from; i < from + count; i += 5) {
            const r = await store.append(
              `${prefix}-${i % 7}`,
              [0, 1, 2, 3, 4].map((k) => newEvent('Tick', { i: i + k })),
              { expectedRevision: 'any' },
            );
            out.push(...r.events);
          }
          return out;
        };
        const before = await appendMany(0, 200);
        let during: Promise<StoredEvent[]> | undefined;
        const subscription = store.subscribeToAll({
          after: head,
          batchSize: 50,
          filter: (e) => e.streamId.startsWith(`${prefix}-`),
        });
        // Halfway through catch-up, writers keep going: the subscription must switch to live on its own.
        const consumer = consume(subscription, (_e, count) => {
          if (count === 100) during = appendMany(200, 200);
        });
        await eventually(
          () => during !== undefined,
          { timeoutMs: 10_000, intervalMs: 5, what: 'catch-up to reach 100 events' },
        );
        const after = await during!;
        const expected = [...before, ...after];
        await eventually(
          () => consumer.received.length >= expected.length,
          { timeoutMs: 10_000, intervalMs: 5, what: () => `${expected.length} events, got ${consumer.received.length}` },
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        await consumer.stop();
        expect(consumer.error()).toBeUndefined();
        expect(consumer.received.map((e) => e.id)).toEqual(expected.map((e) => e.id));
        expectStrictlyIncreasing(consumer.received.map((e) => e.position));
        expect(subscription.checkpoint).toBeGreaterThanOrEqual(
          expected[expected.length - 1]!.position,
        );
      });

      it('resumes from a checkpoint with nothing lost or repeated', async () => {
        const id = streamId('resume');
        const head = await store.headPosition();
        const written: StoredEvent[] = [];
        for (let i = 0; i < 10; i++)
          written.push(
            ...(
              await store.append(
                id,
                Array.from({ length: 10 }, (_, k) => newEvent('Step', { n: i * 10 + k })),
                { expectedRevision: 'any' },
              )
            ).events,
          );

        const first = store.subscribeToAll({
          after: head,
          batchSize: 7,
          filter: (e) => e.streamId === id,
        });
        const seen: StoredEvent[] = [];
        for await (const e of first) {
          seen.push(e);
          if (seen.length === 33) break;
        }
        await first.close();
        expect(first.checkpoint).toBe(seen[seen.length - 1]!.position);

        const second = store.subscribeToAll({
          after: first.checkpoint,
          filter: (e) => e.streamId === id,
        });
        for await (const e of second) {
          seen.push(e);
          if (seen.length === written.length) break;
        }
        await second.close();
        expect(seen.map((e) => e.id)).toEqual(written.map((e) => e.id));
      });

      it(`delivers a live append within ${liveLatencyMs} ms`, async () => {
        const id = streamId('live');
        const head = await store.headPosition();
        const arrivals = new Map<string, number>();
        const consumer = consume(
          store.subscribeToAll({ after: head, filter: (e) => e.streamId === id }),
          (e) => arrivals.set(e.id, performance.now()),
        );
        await new Promise((resolve) => setTimeout(resolve, 100)); // caught up and idle
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          const started = performance.now();
          const result = await store.append(id, [newEvent('Ping', { i })], {
            expectedRevision: 'any',
          });
          const eventId = result.events[0]!.id;
          await eventually(
            () => arrivals.has(eventId),
            { timeoutMs: 2_000, intervalMs: 5, what: `live event ${i}` },
          );
          latencies.push(arrivals.get(eventId)! - started);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await consumer.stop();
        expect(Math.max(...latencies)).toBeLessThan(liveLatencyMs);
      });

      it('ends a pending iteration on close() and on an aborted signal', async () => {
        const head = await store.headPosition();
        const nothing = () => false;
        const closing = store.subscribeToAll({ after: head, filter: nothing });
        const pending = closing[Symbol.asyncIterator]().next();
        await new Promise((resolve) => setTimeout(resolve, 50));
        await closing.close();
        await expect(pending).resolves.toEqual({ done: true, value: undefined });

        const controller = new AbortController();
        const aborted = store.subscribeToAll({
          after: head,
          filter: nothing,
          signal: controller.signal,
        });
        const waiting = aborted[Symbol.asyncIterator]().next();
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.abort();
        await expect(waiting).resolves.toEqual({ done: true, value: undefined });
      });
    });

    describe('stream categories and pages', () => {
      it('limits readAll, headPosition and subscriptions to stream categories', async () => {
        const [a, b, c] = ['cata', 'catb', 'catc'].map((x) => `${x}${run}`);
        const head = await store.headPosition();
        const written: StoredEvent[] = [];
        for (let i = 0; i < 12; i++) {
          const category = [a, b, c][i % 3]!;
          written.push(...(await store.append(`${category}-s${i % 2}`, [newEvent('Tick', { i })], { expectedRevision: 'any' })).events);
        }
        const ofA = written.filter((e) => e.streamId.startsWith(`${a}-`));
        const ofAB = written.filter((e) => !e.streamId.startsWith(`${c}-`));
        // Readers see the log up to the oldest transaction still open anywhere on the server (no
        // gaps): another database's transaction can hold that back for a moment on a busy machine.
        await eventually(async () => (await store.headPosition({ categories: [a, b, c], committed: true })) >= written.at(-1)!.position, {
          timeoutMs: 10_000,
          what: `readers of ${a}, ${b} and ${c} at the last append`,
        });
        expect((await store.readAll({ after: head, categories: [a] })).map((e) => e.id)).toEqual(ofA.map((e) => e.id));
        expect((await store.readAll({ after: head, categories: [b, a], limit: 5 })).map((e) => e.id)).toEqual(ofAB.slice(0, 5).map((e) => e.id));
        expect(await store.headPosition({ categories: [a] })).toBe(ofA.at(-1)!.position);
        expect(await store.headPosition({ categories: [a, b], committed: true })).toBe(ofAB.at(-1)!.position);

        const subscription = store.subscribeToAll({ after: head, categories: [a, b], batchSize: 3 });
        const consumer = consume(subscription, () => undefined);
        const late = (await store.append(`${c}-late`, [newEvent('Tick', { late: true })], { expectedRevision: 'any' })).events;
        const live = (await store.append(`${b}-late`, [newEvent('Tick', { late: true })], { expectedRevision: 'any' })).events;
        await eventually(
          () => consumer.received.length >= ofAB.length + 1,
          { timeoutMs: 5_000, intervalMs: 5, what: () => `${ofAB.length + 1} events of ${a} and ${b}, got ${consumer.received.length}` },
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        await consumer.stop();
        expect(consumer.error()).toBeUndefined();
        expect(consumer.received.map((e) => e.id)).toEqual([...ofAB, ...live].map((e) => e.id));
        expect(subscription.checkpoint).toBeGreaterThanOrEqual(live[0]!.position);
        expect(late[0]!.position).toBeLessThan(live[0]!.position);
        await expectValidationError(store.readAll({ categories: ['no-dashes'] }), 'categories');
      });

      it('hands a subscription over a page at a time: catch-up in full pages, then the live tail', async () => {
        const id = streamId('pages');
        const head = await store.headPosition();
        const written = (await store.append(id, Array.from({ length: 25 }, (_, n) => newEvent('Step', { n })), { expectedRevision: 'any' })).events;
        const subscription = store.subscribeToAll({ after: head, batchSize: 10, filter: (e) => e.streamId === id });
        const pages: (readonly StoredEvent[])[] = [];
        const reading = (async () => {
          for await (const page of subscription.pages()) {
            pages.push(page);
            if (pages.flat().length >= 26) break;
          }
        })();
        await eventually(
          () => pages.flat().length >= 25,
          { timeoutMs: 5_000, intervalMs: 5, what: 'the first 25 events' },
        );
        const tail = (await store.append(id, [newEvent('Step', { n: 25 })], { expectedRevision: 'any' })).events;
        await reading;
        await subscription.close();
        expect(pages.flat().map((e) => e.id)).toEqual([...written, ...tail].map((e) => e.id));
        expect(pages.every((p) => p.length > 0 && p.length <= 10)).toBe(true);
        expect(pages.at(-1)!.map((e) => e.id)).toEqual([tail[0]!.id]);
      });
    });

    describe('ordering under concurrent writers', () => {
      it(`${writers} writers x ${appendsPerWriter} appends (some multi-event, some held open): readers see every event once, in order`, async () => {
        const prefix = streamId('conc');
        const random = rng(20_251_125);
        const slow = target.openWithSlowCommits
          ? await target.openWithSlowCommits({ prefix: `${prefix}-slow`, delayMs: 25 })
          : undefined;
        if (slow) opened.push(slow);
        const head = await store.headPosition();
        const ours = (e: StoredEvent): boolean => e.streamId.startsWith(`${prefix}-`);

        // Two concurrent readers: a live subscription and a loop of readAll pages.
        const consumer = consume(
          store.subscribeToAll({ after: head, batchSize: 100, filter: ours }),
        );
        const paged: StoredEvent[] = [];
        /** Set once every writer is done: the pager stops when it has read past it. */
        const writersDone: { lastAppended?: bigint } = {};
        const pager = (async () => {
          let after = head;
          for (;;) {
            const page = await store.readAll({ after, limit: 250 });
            if (page.length > 0) after = page[page.length - 1]!.position;
            paged.push(...page.filter(ours));
            if (page.length === 0) {
              if (writersDone.lastAppended !== undefined && after >= writersDone.lastAppended)
                return;
              await new Promise((resolve) => setTimeout(resolve, 3));
            }
          }
        })();

        const shared = Array.from({ length: 8 }, (_, i) => `${prefix}-shared-${i}`);
        const appended: StoredEvent[] = [];
        const plans = Array.from({ length: writers }, () =>
          Array.from({ length: appendsPerWriter }, () => ({
            roll: random(),
            size: random() < 0.3 ? 2 + Math.floor(random() * 4) : 1,
            pick: Math.floor(random() * shared.length),
          })),
        );
        await Promise.all(
          plans.map(async (plan, w) => {
            const own = `${prefix}-own-${w}`;
            let ownRevision: ExpectedRevision = 'no_stream';
            for (const [k, { roll, size, pick }] of plan.entries()) {
              const events = Array.from({ length: size }, (_, j) => newEvent('Work', { w, k, j }));
              let result: AppendResult;
              if (slow && roll < 0.04) {
                // Held open while others commit: its positions are lower than theirs but land later.
                result = await slow.append(`${prefix}-slow-${w}`, events, {
                  expectedRevision: 'any',
                });
              } else if (roll < 0.55) {
                result = await store.append(shared[pick]!, events, { expectedRevision: 'any' });
              } else {
                result = await store.append(own, events, { expectedRevision: ownRevision });
                ownRevision = result.nextExpectedRevision;
              }
              appended.push(...result.events);
            }
          }),
        );
        writersDone.lastAppended = appended.reduce(
          (max, e) => (e.position > max ? e.position : max),
          head,
        );

        await eventually(
          () => consumer.received.length >= appended.length || consumer.error() !== undefined,
          { timeoutMs: 20_000, intervalMs: 5, what: () => `${appended.length} events, subscriber has ${consumer.received.length}` },
        );
        await pager;
        await new Promise((resolve) => setTimeout(resolve, 50));
        await consumer.stop();
        expect(consumer.error()).toBeUndefined();

        const byId = new Map(appended.map((e) => [e.id, e]));
        for (const [name, events] of [
          ['subscription', consumer.received],
          ['readAll pages', paged],
        ] as const) {
          const ids = events.map((e) => e.id);
          expect({ reader: name, count: ids.length, distinct: new Set(ids).size }).toEqual({
            reader: name,
            count: appended.length,
            distinct: appended.length,
          });
          for (const e of events) {
            const original = byId.get(e.id);
            if (!original) throw new Error(`${name} saw an event nobody appended: ${e.id}`);
            if (original.position !== e.position)
              throw new Error(
                `${name}: event ${e.id} read at ${e.position}, appended at ${original.position}`,
              );
          }
          expectStrictlyIncreasing(events.map((e) => e.position));
          expectRevisionsInOrder(events);
        }
        // What readers saw is also what the log says, in the same order.
        await settled(store, consumer.received[consumer.received.length - 1]!.position);
        const all = (await store.readAll({ after: head })).filter(ours);
        expect(all.map((e) => e.id)).toEqual(consumer.received.map((e) => e.id));
      });
    });

    describe('large streams', () => {
      it(`writes and reads back a ${largeStreamEvents.toLocaleString('en')}-event stream in order`, async () => {
        const id = streamId('large');
        const head = await store.headPosition();
        const batch = 500;
        let expected: ExpectedRevision = 'no_stream';
        for (let i = 0; i < largeStreamEvents; i += batch) {
          const size = Math.min(batch, largeStreamEvents - i);
          const result = await store.append(
            id,
            Array.from({ length: size }, (_, k) => newEvent('Row', { n: i + k })),
            { expectedRevision: expected },
          );
          expected = result.nextExpectedRevision;
        }
        expect(expected).toBe(BigInt(largeStreamEvents - 1));

        const forwards = await store.readStream(id);
        expect(forwards).toHaveLength(largeStreamEvents);
        forwards.forEach((e, i) => {
          if (e.revision !== BigInt(i) || e.data['n'] !== i)
            throw new Error(
              `event ${i} out of order: revision ${e.revision}, n ${String(e.data['n'])}`,
            );
        });
        expectStrictlyIncreasing(forwards.map((e) => e.position));

        const backwards = await store.readStream(id, { direction: 'backwards' });
        expect(backwards.map((e) => e.id)).toEqual(forwards.map((e) => e.id).reverse());
        expect(
          (await store.readStream(id, { fromRevision: 5_000n, limit: 3 })).map((e) => e.revision),
        ).toEqual([5_000n, 5_001n, 5_002n]);

        await settled(store, forwards[forwards.length - 1]!.position);
        const paged: StoredEvent[] = [];
        let after = head;
        for (;;) {
          const page = await store.readAll({ after, limit: 1_000 });
          if (page.length === 0) break;
          paged.push(...page.filter((e) => e.streamId === id));
          after = page[page.length - 1]!.position;
          if (paged.length >= largeStreamEvents) break;
        }
        expect(paged.map((e) => e.id)).toEqual(forwards.map((e) => e.id));
      });
    });

    describe('archive', () => {
      if (!target.archives) {
        it('refuses to archive, with a typed rule violation, and keeps every event', async () => {
          const id = streamId('cluster');
          await store.append(id, [newEvent('A')], { expectedRevision: 'no_stream' });
          const err = await store.archive({ before: new Date(Date.now() + 60_000) }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toMatchObject({ code: 'rule_violated', details: { rule: 'archive_unsupported' } });
          expect(await store.readStream(id)).toHaveLength(1);
        });
        return;
      }

      it('moves the old events out and every read returns them exactly as before: streams, pages, categories, subscriptions, head', async () => {
        const head = await store.headPosition();
        const a = streamId('cluster');
        const b = streamId('node');
        let last = 0n;
        for (let i = 0; i < 6; i++) {
          last = (await store.append(a, [newEvent('A', { i, n: 0 }), newEvent('A', { i, n: 1 }), newEvent('A', { i, n: 2 })], { expectedRevision: 'any' })).lastPosition;
          last = (await store.append(b, [newEvent('B', { i })], { expectedRevision: 'any' })).lastPosition;
        }
        await settled(store, last);
        const mine = (events: readonly StoredEvent[]) => events.filter((e) => e.streamId === a || e.streamId === b);
        const pagedFrom = async (after: bigint, limit: number, categories?: string[]) => {
          const out: StoredEvent[] = [];
          for (;;) {
            const page = await store.readAll({ after, limit, ...(categories ? { categories } : {}) });
            if (page.length === 0) return out;
            out.push(...page);
            after = page[page.length - 1]!.position;
          }
        };
        const reads = async () => ({
          stream: await store.readStream(a),
          backwards: await store.readStream(a, { direction: 'backwards' }),
          middle: await store.readStream(a, { fromRevision: 7n, limit: 5 }),
          backwardsMiddle: await store.readStream(b, { direction: 'backwards', fromRevision: 3n, limit: 2 }),
          all: mine(await store.readAll({ after: head })),
          paged: mine(await pagedFrom(head, 4)),
          nodes: mine(await pagedFrom(head, 3, ['node'])),
          head: await store.headPosition(),
          committedHead: await store.headPosition({ committed: true }),
        });
        const before = await reads();
        expect(before.stream).toHaveLength(18);
        expect(before.all).toHaveLength(24);

        const archived = await store.archive({ before: new Date(Date.now() + 1_000), chunkEvents: 7 });
        expect(archived.events).toBeGreaterThanOrEqual(24);
        expect(archived.archivedThrough).toBeGreaterThanOrEqual(last);
        expect(await reads()).toEqual(before);
        // Each read gets events of its own: changing one changes nothing another read gets.
        const mine1 = await store.readStream(a);
        (mine1[0]!.data as Record<string, unknown>)['i'] = 'changed';
        (mine1[0]!.metadata as Record<string, unknown>)['actor'] = 'changed';
        expect(await store.readStream(a)).toEqual(before.stream);
        expect(mine(await store.readAll({ after: head }))).toEqual(before.all);
        // A subscription from before them gets them all, in order, then the live ones.
        const consumer = consume(store.subscribeToAll({ after: head, batchSize: 5, filter: (e) => e.streamId === a || e.streamId === b }));
        try {
          const more = await store.append(a, [newEvent('A', { i: 6, n: 0 })], { expectedRevision: 17n });
          // Revisions go on after the archived ones, and the expected revision still holds.
          expect(more.events[0]!.revision).toBe(18n);
          await eventually(() => consumer.received.length === 25, { timeoutMs: 10_000, what: '25 events at the subscriber' });
          expect(consumer.received.slice(0, 24)).toEqual(before.all);
          expect(consumer.received[24]!.id).toBe(more.events[0]!.id);
        } finally {
          await consumer.stop();
        }
        // Nothing older is left: archiving again moves nothing (the new event is younger).
        const again = await store.archive({ before: new Date(Date.now() - 60_000) });
        expect(again.events).toBe(0);
        expect((await store.readStream(a)).map((e) => e.revision)).toEqual(Array.from({ length: 19 }, (_, i) => BigInt(i)));
      });

      it('archives a prefix only: it stops at the first event that is not old enough', async () => {
        const a = streamId('cluster');
        const old = await store.append(a, [newEvent('Old')], { expectedRevision: 'no_stream' });
        await settled(store, old.lastPosition);
        await new Promise((r) => setTimeout(r, 50));
        const cutoff = new Date();
        await new Promise((r) => setTimeout(r, 50));
        const young = await store.append(a, [newEvent('Young')], { expectedRevision: 0n });
        await settled(store, young.lastPosition);
        const result = await store.archive({ before: cutoff });
        expect(result.archivedThrough).toBeGreaterThanOrEqual(old.lastPosition);
        expect(result.archivedThrough).toBeLessThan(young.lastPosition);
        expect((await store.readStream(a)).map((e) => e.type)).toEqual(['Old', 'Young']);
        expect((await store.readStream(a, { direction: 'backwards' })).map((e) => e.type)).toEqual(['Young', 'Old']);
      });

      it('refuses bad options, naming them', async () => {
        await expectValidationError(store.archive({ before: new Date(Number.NaN) }), 'before');
        await expectValidationError(store.archive({ before: new Date(), chunkEvents: 0 }), 'chunkEvents');
        await expectValidationError(store.archive({ before: new Date(), maxChunks: 0 }), 'maxChunks');
      });
    });
  });
}
