import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NotFoundError, RuleViolationError, type Decider } from '@flotilla/domain';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { createTestDatabase, eventually, type TestDatabase } from '@flotilla/testing';
import { CommandHandler } from './command-handler.js';

type Cmd = { type: 'Add'; data: { n: number; max: number } };
type Evt = { type: 'Added'; data: { n: number } };
const counter: Decider<{ total: number }, Cmd, Evt> = {
  initialState: () => ({ total: 0 }),
  decide: (c, s) => {
    if (s.total + c.data.n > c.data.max) throw new RuleViolationError('above_max', `total would exceed ${c.data.max}`);
    return [{ type: 'Added', data: { n: c.data.n } }];
  },
  evolve: (s, e) => ({ total: s.total + e.data.n }),
  // Every counter belongs to tenant t1, whoever adds to it.
  tenantOf: () => 't1',
};
const ctx = { actor: 'alice', correlationId: 'c1' };

/** An aggregate owned by the tenant that opened it; anyone may touch it afterwards. */
type OwnedCmd = { type: 'Open'; data: { tenant: string } } | { type: 'Touch'; data: Record<string, never> };
type OwnedEvt = { type: 'Opened'; data: { tenant: string } } | { type: 'Touched'; data: Record<string, never> };
const owned: Decider<{ owner: string | null; touches: number }, OwnedCmd, OwnedEvt> = {
  initialState: () => ({ owner: null, touches: 0 }),
  decide: (c) => (c.type === 'Open' ? [{ type: 'Opened', data: { tenant: c.data.tenant } }] : [{ type: 'Touched', data: {} }]),
  evolve: (s, e) => (e.type === 'Opened' ? { owner: e.data.tenant, touches: 0 } : { ...s, touches: s.touches + 1 }),
  tenantOf: (s) => s.owner,
};

type Set = { type: 'Set'; data: { value: number } };
type WasSet = { type: 'WasSet'; data: { value: number } };
/** Setting the value it already has is no change (no event). */
const setter: Decider<{ value: number }, Set, WasSet> = {
  initialState: () => ({ value: 0 }),
  decide: (c, s) => (s.value === c.data.value ? [] : [{ type: 'WasSet', data: { value: c.data.value } }]),
  evolve: (_s, e) => ({ value: e.data.value }),
  tenantOf: () => 't1',
};

/** The store, counting stream reads. */
function countingReads(store: EventStore): { store: EventStore; reads: () => number } {
  let reads = 0;
  const counted = Object.create(store) as EventStore;
  counted.readStream = (...args) => {
    reads++;
    return store.readStream(...args);
  };
  return { store: counted, reads: () => reads };
}

describe('CommandHandler (real PostgreSQL event store)', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase('cmd');
    store = await createEventStore({ kind: 'postgres', url: db.url });
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('folds, decides and appends with the actor in the metadata', async () => {
    const h = new CommandHandler(store);
    const r = await h.handle(counter, 'counter-a', { type: 'Add', data: { n: 2, max: 100 } }, ctx);
    expect(r.state.total).toBe(2);
    expect(r.revision).toBe(0n);
    expect(r.events[0]?.metadata).toMatchObject({ actor: 'alice', tenantId: 't1', correlationId: 'c1', schemaVersion: 1 });
    expect(r.position).toBe(r.events[0]?.position);
  });

  it('never loses an update between replicas writing the same stream', async () => {
    const replicas = [new CommandHandler(store), new CommandHandler(store), new CommandHandler(store)];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => replicas[i % 3]!.handle(counter, 'counter-b', { type: 'Add', data: { n: 1, max: 1000 } }, ctx).catch((e: unknown) => e)),
    );
    const failures = results.filter((r) => r instanceof Error);
    // Bounded retries: under this much contention some may give up with a 409, never silently.
    for (const f of failures) expect((f as unknown as { code: string }).code).toBe('concurrency_conflict');
    const events = await store.readStream('counter-b');
    const { state } = await new CommandHandler(store).load(counter, 'counter-b');
    // Every acknowledged command is in the log, and nothing else is.
    expect(events).toHaveLength(results.length - failures.length);
    expect(state.total).toBe(events.length);
    expect(failures.length).toBeLessThan(15);
  });

  it('runs one replica\'s concurrent commands on a stream in turn: none conflicts, so none is refused even with a single attempt', async () => {
    const h = new CommandHandler(store, { maxAttempts: 1 });
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => h.handle(counter, 'counter-turns', { type: 'Add', data: { n: 1, max: 1000 } }, ctx)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await store.readStream('counter-turns')).toHaveLength(40);
    // Other streams are not held up behind a busy one.
    expect((await h.handle(counter, 'counter-other', { type: 'Add', data: { n: 1, max: 10 } }, ctx)).state.total).toBe(1);
  });

  it('after a conflict with another replica, reads only the events past its cached state, not the whole stream again', async () => {
    const read: unknown[] = [];
    const recording = Object.create(store) as EventStore;
    recording.readStream = async (...args) => {
      const events = await store.readStream(...args);
      read.push(...events);
      return events;
    };
    const a = new CommandHandler(recording);
    const b = new CommandHandler(store);
    for (let i = 0; i < 50; i++) await a.handle(counter, 'counter-long', { type: 'Add', data: { n: 1, max: 1000 } }, ctx);
    await b.handle(counter, 'counter-long', { type: 'Add', data: { n: 1, max: 1000 } }, ctx);
    read.length = 0;
    const r = await a.handle(counter, 'counter-long', { type: 'Add', data: { n: 1, max: 1000 } }, ctx);
    expect(r.state.total).toBe(52);
    expect(read).toHaveLength(1);
  });

  it('enforces invariants on the freshest state even with a stale cache', async () => {
    const a = new CommandHandler(store);
    const b = new CommandHandler(store);
    await a.handle(counter, 'counter-c', { type: 'Add', data: { n: 5, max: 10 } }, ctx);
    await b.handle(counter, 'counter-c', { type: 'Add', data: { n: 5, max: 10 } }, ctx);
    await expect(a.handle(counter, 'counter-c', { type: 'Add', data: { n: 1, max: 10 } }, ctx)).rejects.toBeInstanceOf(RuleViolationError);
  });

  it('returns the first result for a repeated idempotency key and appends nothing', async () => {
    const h = new CommandHandler(store);
    const first = await h.handle(counter, 'counter-d', { type: 'Add', data: { n: 3, max: 100 } }, { ...ctx, idempotencyKey: 'k-1' });
    const again = await new CommandHandler(store).handle(counter, 'counter-d', { type: 'Add', data: { n: 3, max: 100 } }, { ...ctx, idempotencyKey: 'k-1' });
    expect(again.duplicate).toBe(true);
    expect(again.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
    expect(await store.readStream('counter-d')).toHaveLength(1);
    // After another command, the repeat still answers with the state the first one produced.
    const later = await h.handle(counter, 'counter-d', { type: 'Add', data: { n: 4, max: 100 } }, ctx);
    const replay = await h.handle(counter, 'counter-d', { type: 'Add', data: { n: 3, max: 100 } }, { ...ctx, idempotencyKey: 'k-1' });
    expect([replay.duplicate, replay.state, replay.revision]).toEqual([true, first.state, first.revision]);
    expect(later.state).not.toEqual(first.state);
  });

  it('follows the log: commands on a cached stream read nothing, and writes of other replicas reach the cache', async () => {
    const counting = countingReads(store);
    const a = new CommandHandler(counting.store);
    const b = new CommandHandler(store);
    const controller = new AbortController();
    const following = a.follow(controller.signal);
    await a.handle(counter, 'counter-e', { type: 'Add', data: { n: 1, max: 100 } }, ctx);
    const readsAfterFirst = counting.reads();
    await b.handle(counter, 'counter-e', { type: 'Add', data: { n: 2, max: 100 } }, ctx);
    await eventually(async () => (await a.load(counter, 'counter-e')).state.total === 3, {
      timeoutMs: 5000,
      intervalMs: 10,
      what: "replica b's write in a's cache (counter-e at 3)",
    });
    const r = await a.handle(counter, 'counter-e', { type: 'Add', data: { n: 4, max: 100 } }, ctx);
    expect(r.state.total).toBe(7);
    expect(r.revision).toBe(2n);
    expect(counting.reads()).toBe(readsAfterFirst);
    controller.abort();
    await following;
  });

  it('decides "no change" and refusals again on a fresh read: a stale cache never answers them', async () => {
    const a = new CommandHandler(store);
    const b = new CommandHandler(store);
    await a.handle(setter, 'setter-a', { type: 'Set', data: { value: 5 } }, ctx);
    await b.handle(setter, 'setter-a', { type: 'Set', data: { value: 7 } }, ctx);
    // a's cache still says 5, so "set 5" looks like no change: it must read and find 7.
    const r = await a.handle(setter, 'setter-a', { type: 'Set', data: { value: 5 } }, ctx);
    expect(r.events.map((e) => e.type)).toEqual(['WasSet']);
    expect((await store.readStream('setter-a')).map((e) => e.data['value'])).toEqual([5, 7, 5]);
  });

  describe("events carry their aggregate's tenant, never the caller's", () => {
    it("records what a service or another caller does to tenant B's aggregate as tenant B's", async () => {
      const h = new CommandHandler(store);
      const opened = await h.handle(owned, 'owned-b', { type: 'Open', data: { tenant: 'tenant-b' } }, { actor: 'key:bob', correlationId: 'c', tenantScope: 'tenant-b' });
      // A node agent's report or the reconciler: a service without a tenant of its own.
      const byService = await h.handle(owned, 'owned-b', { type: 'Touch', data: {} }, { actor: 'node-agent', correlationId: 'c' });
      expect([...opened.events, ...byService.events].map((e) => [e.type, e.metadata.tenantId, e.metadata.actor])).toEqual([
        ['Opened', 'tenant-b', 'key:bob'],
        ['Touched', 'tenant-b', 'node-agent'],
      ]);
    });

    it("refuses a caller of one tenant another tenant's aggregate, as not found, and appends nothing", async () => {
      const h = new CommandHandler(store);
      await h.handle(owned, 'owned-c', { type: 'Open', data: { tenant: 'tenant-c' } }, { actor: 'key:carol', correlationId: 'c', tenantScope: 'tenant-c' });
      await expect(h.handle(owned, 'owned-c', { type: 'Touch', data: {} }, { actor: 'key:mallory', correlationId: 'c', tenantScope: 'default' })).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.readStream('owned-c')).toHaveLength(1);
    });
  });

  describe('preview (a dry run)', () => {
    it('answers the events a command would append and the state they lead to, and appends nothing', async () => {
      const h = new CommandHandler(store);
      await h.handle(owned, 'owned-p', { type: 'Open', data: { tenant: 'tenant-p' } }, { actor: 'key:pat', correlationId: 'c', tenantScope: 'tenant-p' });
      const preview = await h.preview(owned, 'owned-p', { type: 'Touch', data: {} }, { actor: 'node-agent', correlationId: 'c' });
      expect(preview.events).toEqual([{ type: 'Touched', data: {}, tenantId: 'tenant-p' }]);
      expect(preview.revision).toBe(0n);
      expect(await store.readStream('owned-p')).toHaveLength(1);
      // The real command then appends exactly that.
      const real = await h.handle(owned, 'owned-p', { type: 'Touch', data: {} }, { actor: 'node-agent', correlationId: 'c' });
      expect(real.events.map((e) => [e.type, e.data, e.metadata.tenantId])).toEqual(preview.events.map((e) => [e.type, e.data, e.tenantId]));
    });

    it("refuses what the command would refuse: another tenant's aggregate is not found", async () => {
      const h = new CommandHandler(store);
      await h.handle(owned, 'owned-q', { type: 'Open', data: { tenant: 'tenant-q' } }, { actor: 'key:quinn', correlationId: 'c', tenantScope: 'tenant-q' });
      await expect(h.preview(owned, 'owned-q', { type: 'Touch', data: {} }, { actor: 'key:mallory', correlationId: 'c', tenantScope: 'default' })).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});
