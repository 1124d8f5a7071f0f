import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TASKS_BUCKET, TASKS_STREAM, taskSubjects } from '@flotilla/contracts';
import { newId, PayloadTooLargeError, RateLimitedError, UnavailableError } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { createTestNamespace, deleteNamespaceStreams, queuedTaskRecord, type TestNamespace } from '@flotilla/testing';
import { queuedTaskIds } from './testing/queued-task-ids.js';
import { TaskIntake, type PreparedTask } from './task-intake.js';
import { ensureTaskStreams, TaskQueues } from './task-queues.js';
import { TaskStore, type TaskRecord } from './task-store.js';

/** The process "dies": every later call of the instance fails, so no cleanup runs either. */
class Crash extends Error {}

interface Fuse {
  /** Writes that may complete; the process dies right after the last one. */
  writes: number;
  dead: boolean;
}

/** A proxy whose `writes` methods count down the fuse, and whose every call fails once it blew. */
function crashing<T extends object>(target: T, writes: readonly string[], fuse: Fuse, wrap: Record<string, (v: unknown) => unknown> = {}): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof prop !== 'string') return v;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (fuse.dead) return Promise.reject(new Crash('dead'));
        const out = (v as (...a: unknown[]) => unknown).apply(t, args);
        if (wrap[prop]) return wrap[prop](out);
        if (!writes.includes(prop)) return out;
        return Promise.resolve(out).then((value) => {
          if (--fuse.writes <= 0) {
            fuse.dead = true;
            throw new Crash('died right after this write');
          }
          return value;
        });
      };
    },
  });
}

const STORE_WRITES = ['claimIdempotencyKey', 'releaseIdempotencyKey', 'create', 'createOrGet', 'update', 'updateVersioned'];

describe('TaskIntake (real NATS)', () => {
  let ns: TestNamespace;
  let messaging: Messaging;
  let store: TaskStore;

  beforeAll(async () => {
    ns = createTestNamespace();
    messaging = await Messaging.connect({ servers: [ns.natsUrl], name: 'task-intake-test', namespace: ns.prefix, requestTimeoutMs: 5000 });
    await ensureTaskStreams(messaging, { replicas: 1 });
    store = await TaskStore.open(messaging, { retentionMs: 600_000, replicas: 1 });
  });

  afterAll(async () => {
    await messaging?.close();
    await ns?.cleanup();
  });

  const prepare =
    (clusterId: string, tenantId = 'acme', payload: unknown = { n: 1 }) =>
    async (taskId: string): Promise<PreparedTask> => ({
      subject: taskSubjects.queue(clusterId, 'normal', null),
      record: queuedTaskRecord(taskId, clusterId, { tenant_id: tenantId, payload }),
    });

  const intake = (m: Messaging = messaging, s: TaskStore = store, opts: { maxQueuedPerTenant?: number; maxStreamBytes?: number } = {}) =>
    new TaskIntake(m, s, { maxQueuedPerTenant: opts.maxQueuedPerTenant ?? 10_000, tenantOf: async (id) => id.split('_')[0], takeOverAfterMs: 300, usageTtlMs: 0, ...(opts.maxStreamBytes ? { maxStreamBytes: opts.maxStreamBytes } : {}) });

  /** The task ids of the messages queued for a cluster. */
  const queuedIds = (clusterId: string): Promise<string[]> => queuedTaskIds(messaging, clusterId);


  // Claiming the key, queuing the message and writing the record are the three writes of a
  // submission; the orchestrator may die after any of them.
  it.each([1, 2, 3])('a submission that dies after write %i leaves no phantom; a retry with its idempotency key ends with exactly one queued task', async (writes) => {
    const clusterId = `acme_${newId('cluster')}`;
    const fuse: Fuse = { writes, dead: false };
    const dying = crashing(messaging, [], fuse, { js: (js) => crashing(js as object, ['publish'], fuse) });
    const first = intake(dying, crashing(store, STORE_WRITES, fuse));
    const submission = { clusterId, tenantId: 'acme', idempotencyKey: 'order-42', newTaskId: () => newId('task'), prepare: prepare(clusterId) };
    // Whatever the dying process would have answered never reaches the client.
    await first.submit(submission).catch(() => undefined);
    expect(fuse.dead).toBe(true);

    // A new orchestrator process, the client's retry.
    const retried = await intake().submit({ ...submission, newTaskId: () => newId('task') });
    const again = await intake().submit({ ...submission, newTaskId: () => newId('task') });
    const queued = await queuedIds(clusterId);
    expect(queued).toEqual([retried.id]);
    expect(again.id).toBe(retried.id);
    const record = await store.read(retried.id);
    expect(record?.record).toMatchObject({ id: retried.id, status: 'queued' });
    expect(record?.record.queue_seq).toEqual(expect.any(Number));
  });

  it('a record exists only for a queued task (a refused publish writes none, and frees the key)', async () => {
    const clusterId = `acme_${newId('cluster')}`;
    const huge = 'x'.repeat((messaging.nc.info?.max_payload ?? 1 << 20) + 10);
    let taskId = '';
    const submission = { clusterId, tenantId: 'acme', idempotencyKey: 'big', newTaskId: () => (taskId = newId('task')), prepare: prepare(clusterId, 'acme', huge) };
    await expect(intake().submit(submission)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await store.get(taskId)).toBeUndefined();
    const ok = await intake().submit({ ...submission, prepare: prepare(clusterId) });
    expect(ok.id).toBe(taskId);
    expect(await queuedIds(clusterId)).toEqual([ok.id]);
  });

  it('FLOTILLA_TASKS is bounded with discard-new: a submission beyond TASKS_STREAM_MAX_BYTES is refused (503 task_queue_full), none already queued is dropped', async () => {
    const small = createTestNamespace();
    const m = await Messaging.connect({ servers: [small.natsUrl], name: 'task-intake-full', namespace: small.prefix, requestTimeoutMs: 5000 });
    try {
      await ensureTaskStreams(m, { replicas: 1, maxBytes: 4096 });
      const s = await TaskStore.open(m, { retentionMs: 600_000, replicas: 1 });
      const clusterId = `acme_${newId('cluster')}`;
      const accepted: string[] = [];
      let refusal: unknown;
      for (let i = 0; i < 40 && !refusal; i++) {
        await intake(m, s, { maxStreamBytes: 4096 })
          .submit({ clusterId, tenantId: 'acme', newTaskId: () => newId('task'), prepare: prepare(clusterId, 'acme', { filler: 'y'.repeat(500), i }) })
          .then((r) => accepted.push(r.id), (err: unknown) => (refusal = err));
      }
      expect(refusal).toBeInstanceOf(UnavailableError);
      expect((refusal as UnavailableError).details).toMatchObject({ reason: 'task_queue_full' });
      expect(accepted.length).toBeGreaterThan(0);
      const jsm = await m.jsm();
      const info = await jsm.streams.info(m.ns.stream(TASKS_STREAM));
      expect(info.config.discard).toBe('new');
      expect(info.state.messages).toBe(accepted.length);
      expect(info.state.first_seq).toBe(1);
    } finally {
      await m.close();
      await small.cleanup();
    }
  });

  it('chaos: after JetStream lost its store (PostgreSQL kept), a submission provisions the task streams, its queue and the records bucket again, without a restart', async () => {
    const own = createTestNamespace();
    const m = await Messaging.connect({ servers: [own.natsUrl], name: 'task-intake-wiped', namespace: own.prefix, requestTimeoutMs: 5000 });
    try {
      await ensureTaskStreams(m, { replicas: 1 });
      const s = await TaskStore.open(m, { retentionMs: 600_000, replicas: 1 });
      const queues = new TaskQueues(m, { streams: { replicas: 1 } });
      const intakeWithRecovery = new TaskIntake(m, s, {
        maxQueuedPerTenant: 1000,
        tenantOf: async () => 'acme',
        usageTtlMs: 0,
        recover: (queue) => queues.recoverFor(queue),
      });
      const clusterId = `acme_${newId('cluster')}`;
      await queues.ensure(clusterId, null);
      const before = await intakeWithRecovery.submit({ clusterId, tenantId: 'acme', newTaskId: () => newId('task'), prepare: prepare(clusterId) });
      const wiped = await deleteNamespaceStreams(m.nc, own.ns);
      expect(wiped).toEqual(expect.arrayContaining([m.ns.stream(TASKS_STREAM), `KV_${m.ns.bucket(TASKS_BUCKET)}`]));
      // The records went with the store; the handle does not fail for good, it finds nothing.
      expect(await s.get(before.id)).toBeUndefined();
      // As the orchestrator's prepare does: provision the task's queue (known ones are skipped).
      const provisioned = async (taskId: string) => {
        await queues.ensure(clusterId, null);
        return prepare(clusterId)(taskId);
      };
      const after = await intakeWithRecovery.submit({ clusterId, tenantId: 'acme', idempotencyKey: 'after-wipe', newTaskId: () => newId('task'), prepare: provisioned });
      expect(after.status).toBe('queued');
      expect((await s.get(after.id))?.status).toBe('queued');
      const jsm = await m.jsm();
      const consumer = await jsm.consumers.info(m.ns.stream(TASKS_STREAM), queues.consumerName(clusterId, 'normal', null));
      expect(consumer.num_pending).toBe(1);
    } finally {
      await m.close();
      await own.cleanup();
    }
  });

  it('one tenant cannot fill the queue for others: beyond TENANT_MAX_QUEUED_TASKS its submissions get 429, another tenant’s are accepted', async () => {
    const a = `tenanta_${newId('cluster')}`;
    const b = `tenantb_${newId('cluster')}`;
    const capped = intake(messaging, store, { maxQueuedPerTenant: 3 });
    for (let i = 0; i < 3; i++) await capped.submit({ clusterId: a, tenantId: 'tenanta', newTaskId: () => newId('task'), prepare: prepare(a, 'tenanta') });
    const refused = await capped.submit({ clusterId: a, tenantId: 'tenanta', newTaskId: () => newId('task'), prepare: prepare(a, 'tenanta') }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).details).toMatchObject({ reason: 'tenant_queue_full', queued: 3, quota: 3 });
    // A fresh replica counts the stream, not its own memory.
    const other = intake(messaging, store, { maxQueuedPerTenant: 3 });
    await expect(other.submit({ clusterId: a, tenantId: 'tenanta', newTaskId: () => newId('task'), prepare: prepare(a, 'tenanta') })).rejects.toBeInstanceOf(RateLimitedError);
    const ok: TaskRecord = await other.submit({ clusterId: b, tenantId: 'tenantb', newTaskId: () => newId('task'), prepare: prepare(b, 'tenantb') });
    expect(ok.status).toBe('queued');
  });
});
