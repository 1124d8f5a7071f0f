import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { taskSubjects } from '@flotilla/contracts';
import { newId, PayloadTooLargeError } from '@flotilla/domain';
import { encodeJson, Messaging } from '@flotilla/messaging';
import {
  createTestDatabase,
  createTestNamespace,
  deleteNamespaceStreams,
  eventually,
  queuedTaskRecord,
  type TestDatabase,
  type TestNamespace,
} from '@flotilla/testing';
import { queuedTaskIds } from './testing/queued-task-ids.js';
import { TaskIntake, type PreparedTask } from './task-intake.js';
import { TaskLedger, TaskLedgerLoop, type LoopState } from './task-ledger.js';
import { ensureTaskStreams, TaskQueues } from './task-queues.js';
import { TaskStore } from './task-store.js';

/**
 * The task ledger against real NATS and PostgreSQL: JetStream's store is wiped (the namespace's
 * streams and buckets deleted, as a lost or replaced store leaves them) while PostgreSQL keeps
 * its data, and the tasks that were queued come back.
 */
describe('TaskLedger (real NATS and PostgreSQL)', () => {
  let ns: TestNamespace;
  let db: TestDatabase;
  let pool: pg.Pool;
  let messaging: Messaging;
  let store: TaskStore;
  let ledger: TaskLedger;
  let queues: TaskQueues;
  let intake: TaskIntake;

  beforeAll(async () => {
    ns = createTestNamespace();
    db = await createTestDatabase('ledger');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    messaging = await Messaging.connect({
      servers: [ns.natsUrl],
      name: 'task-ledger-test',
      namespace: ns.prefix,
      requestTimeoutMs: 5000,
    });
    await ensureTaskStreams(messaging, { replicas: 1 });
    store = await TaskStore.open(messaging, { retentionMs: 600_000, replicas: 1 });
    ledger = new TaskLedger(pool);
    await ledger.ensureSchema();
    await ledger.ensureSchema(); // idempotent
    queues = new TaskQueues(messaging, { ackWaitMs: 30_000, streams: { replicas: 1 } });
    intake = new TaskIntake(messaging, store, {
      maxQueuedPerTenant: 10_000,
      tenantOf: async () => 'acme',
      usageTtlMs: 0,
      recover: (queue) => queues.recoverFor(queue),
      ledger,
    });
  });

  afterAll(async () => {
    await messaging?.close();
    await pool?.end();
    await db?.drop();
    await ns?.cleanup();
  });

  const prepare =
    (clusterId: string, payload: unknown = { n: 1 }) =>
    async (taskId: string): Promise<PreparedTask> => ({
      subject: taskSubjects.queue(clusterId, 'normal', null),
      record: queuedTaskRecord(taskId, clusterId, { payload }),
    });

  const submit = (clusterId: string, payload?: unknown) =>
    intake.submit({
      clusterId,
      tenantId: 'acme',
      newTaskId: () => newId('task'),
      prepare: prepare(clusterId, payload),
    });

  const loop = (graceMs: number) =>
    new TaskLedgerLoop(messaging, ledger, store, (t) => intake.enqueue(t), {
      graceMs,
      intervalMs: 50,
      retentionMs: 600_000,
    });

  /** The task ids of the messages queued for a cluster, sorted. */
  const queuedIds = async (clusterId: string): Promise<string[]> =>
    (await queuedTaskIds(messaging, clusterId)).sort();

  const inLedger = async (ids: readonly string[]) => {
    const { rows } = await pool.query<{ task_id: string }>(
      'SELECT task_id FROM flotilla_task_ledger WHERE task_id = ANY($1)',
      [ids],
    );
    return rows.map((r) => r.task_id).sort();
  };

  it('tasks queued when JetStream loses its store are queued again from the ledger, records and all', async () => {
    const clusterId = newId('cluster');
    const tasks = await Promise.all([
      submit(clusterId),
      submit(clusterId, { n: 2 }),
      submit(clusterId, { n: 3 }),
    ]);
    const ids = tasks.map((t) => t.id).sort();
    expect(await inLedger(ids)).toEqual(ids);
    const l = loop(60_000);
    const state: LoopState = { mark: undefined, storeId: undefined };
    expect(await l.pass(state)).toMatchObject({ refed: 0, storeReplaced: false });

    await deleteNamespaceStreams(messaging.nc, messaging.ns);
    await ensureTaskStreams(messaging, { replicas: 1 }); // someone provisioned the streams again, empty
    expect(await queuedIds(clusterId)).toEqual([]);

    const pass = await l.pass(state);
    expect(pass).toMatchObject({ storeReplaced: true, refed: 3 });
    expect(await queuedIds(clusterId)).toEqual(ids);
    for (const t of tasks)
      expect(await store.get(t.id)).toMatchObject({
        id: t.id,
        status: 'queued',
        payload: t.payload,
        queue_seq: expect.any(Number),
      });
    // Still unfinished: the ledger keeps them until they finish.
    expect(await inLedger(ids)).toEqual(ids);
    // A second pass finds them in NATS and changes nothing.
    expect(await l.pass(state)).toMatchObject({ refed: 0, storeReplaced: false });
    expect(await queuedIds(clusterId)).toEqual(ids);
  });

  it('a task accepted in the ledger whose queue message was never published (the intake died in between) is queued after the grace period', async () => {
    const clusterId = newId('cluster');
    const prepared = await prepare(clusterId)(newId('task'));
    await ledger.accept(prepared);
    const state: LoopState = { mark: undefined, storeId: undefined };
    expect(await loop(60_000).pass(state)).toMatchObject({ refed: 0 });
    expect(await queuedIds(clusterId)).toEqual([]);
    expect(await loop(0).pass({ mark: undefined, storeId: undefined })).toMatchObject({ refed: 1 });
    expect(await queuedIds(clusterId)).toEqual([prepared.record.id]);
  });

  it('finished tasks leave the ledger (from their record, and from their announced outcome) and are never queued again', async () => {
    const clusterId = newId('cluster');
    const [done, announced, retried] = await Promise.all([
      submit(clusterId),
      submit(clusterId),
      submit(clusterId),
    ]);
    await store.update(done.id, (t) => ({ ...t, status: 'completed', result: { ok: true } }));
    expect(await loop(0).pass({ mark: undefined, storeId: undefined })).toMatchObject({
      finished: 1,
      refed: 0,
    });
    expect(await inLedger([done.id, announced.id, retried.id])).toEqual(
      [announced.id, retried.id].sort(),
    );

    // The loop listens to outcomes while it runs: a completion forgets the task, a failure that
    // will be retried does not.
    const controller = new AbortController();
    const running = loop(60_000).run(controller.signal);
    await new Promise((r) => setTimeout(r, 200));
    messaging.nc.publish(
      messaging.ns.subject(taskSubjects.result(clusterId, announced.id, 'completed')),
      encodeJson({ task_id: announced.id, final: true }),
    );
    messaging.nc.publish(
      messaging.ns.subject(taskSubjects.result(clusterId, retried.id, 'failed')),
      encodeJson({ task_id: retried.id, final: false }),
    );
    try {
      await eventually(async () => (await inLedger([announced.id])).length === 0, {
        timeoutMs: 5000,
        intervalMs: 50,
        what: `${announced.id} forgotten by the ledger`,
      });
    } finally {
      controller.abort();
      await running;
    }
    expect(await inLedger([done.id, announced.id, retried.id])).toEqual([retried.id]);
  });

  it('a refused task (too large for a message) leaves no row behind', async () => {
    const clusterId = newId('cluster');
    const huge = 'x'.repeat((messaging.nc.info?.max_payload ?? 1 << 20) + 10);
    let taskId = '';
    await expect(
      intake.submit({
        clusterId,
        tenantId: 'acme',
        newTaskId: () => (taskId = newId('task')),
        prepare: prepare(clusterId, huge),
      }),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await inLedger([taskId])).toEqual([]);
  });

  it('a task is refused with 503 (nothing queued) while PostgreSQL is unreachable', async () => {
    const down = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    const offline = new TaskIntake(messaging, store, {
      maxQueuedPerTenant: 10_000,
      tenantOf: async () => 'acme',
      usageTtlMs: 0,
      ledger: new TaskLedger(down),
    });
    const clusterId = newId('cluster');
    await expect(
      offline.submit({
        clusterId,
        tenantId: 'acme',
        newTaskId: () => newId('task'),
        prepare: prepare(clusterId),
      }),
    ).rejects.toMatchObject({ code: 'unavailable', details: { dependency: 'postgres' } });
    await down.end();
    expect(await queuedIds(clusterId).catch(() => [])).toEqual([]);
  });
});
