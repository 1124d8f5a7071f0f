import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { taskSubjects, type TaskOutcome } from '@flotilla/contracts';
import { newId, type AgentSpec, type JsonValue } from '@flotilla/domain';
import { encodeJson, Messaging } from '@flotilla/messaging';
import { ensureTaskStreams, queuedTaskOf, TaskIntake, TaskQueues, TaskStore, type TaskRecord } from '@flotilla/tasks';
import { createLogger } from '@flotilla/telemetry';
import { createTestNamespace, deleteNamespaceStreams, eventually, queuedTaskRecord, type TestNamespace } from '@flotilla/testing';
import type { RunningAgentInfo, TaskDelivery } from '../runner/task-source.js';
import { JetStreamTaskSource } from './jetstream-task-source.js';

const logger = createLogger({ service: 'node-agent', instanceId: 'test', level: 'silent' });

describe('JetStreamTaskSource (real NATS)', () => {
  let ns: TestNamespace;
  let messaging: Messaging;
  let store: TaskStore;
  let intake: TaskIntake;
  const outcomes: TaskOutcome[] = [];

  beforeAll(async () => {
    ns = createTestNamespace();
    messaging = await Messaging.connect({ servers: [ns.natsUrl], name: 'task-source-test', namespace: ns.prefix, requestTimeoutMs: 5000 });
    await ensureTaskStreams(messaging, { replicas: 1 });
    store = await TaskStore.open(messaging, { retentionMs: 600_000, replicas: 1 });
    intake = new TaskIntake(messaging, store, { maxQueuedPerTenant: 1000, tenantOf: async () => 'acme' });
    messaging.nc.subscribe(messaging.ns.subject(taskSubjects.results), { callback: (_e, m) => void outcomes.push(m.json<TaskOutcome>()) });
  });

  afterAll(async () => {
    await messaging?.close();
    await ns?.cleanup();
  });

  const agentOf = (clusterId: string): RunningAgentInfo => ({
    agentId: newId('agent'),
    clusterId,
    spec: { name: 'hand', role: 'worker', capabilities: [], runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 } } satisfies AgentSpec,
  });

  const record = (clusterId: string, taskId = newId('task')): TaskRecord => queuedTaskRecord(taskId, clusterId, { payload: { say: 'hi' } });

  /** Pulls until a delivery comes (or `tries` pulls found none). */
  const pull = async (source: JetStreamTaskSource, agent: RunningAgentInfo, tries = 3): Promise<TaskDelivery[]> => {
    for (let i = 0; i < tries; i++) {
      const got = await source.pull(agent, 1, new AbortController().signal);
      if (got.length) return [...got];
    }
    return [];
  };

  const queueState = async (clusterId: string) => {
    const jsm = await messaging.jsm();
    const info = await jsm.consumers.info(messaging.ns.stream('FLOTILLA_TASKS'), new TaskQueues(messaging).consumerName(clusterId, 'normal', null));
    return { pending: info.num_pending, inFlight: info.num_ack_pending };
  };

  // Acks are published without waiting for the server's confirmation: the consumer's counts
  // settle a moment after ack() returns, so they are read until they match (for 3 s at most).
  const settledQueueState = (clusterId: string, expected: { pending: number; inFlight: number }) =>
    eventually(() => queueState(clusterId), {
      until: (state) => state.pending === expected.pending && state.inFlight === expected.inFlight,
      timeoutMs: 3000,
      intervalMs: 25,
      what: `the queue's consumer at ${expected.pending} pending, ${expected.inFlight} in flight`,
    });

  it('chaos: after JetStream lost its store (streams and buckets gone), an agent pulls again from the queue provisioned anew, without a restart', async () => {
    const own = createTestNamespace();
    const m = await Messaging.connect({ servers: [own.natsUrl], name: 'task-source-wiped', namespace: own.prefix, requestTimeoutMs: 5000 });
    try {
      await ensureTaskStreams(m, { replicas: 1 });
      const s = await TaskStore.open(m, { retentionMs: 600_000, replicas: 1 });
      const queues = new TaskQueues(m, { streams: { replicas: 1 } });
      const submitter = new TaskIntake(m, s, {
        maxQueuedPerTenant: 1000,
        tenantOf: async () => 'acme',
        usageTtlMs: 0,
        recover: (queue) => queues.recoverFor(queue),
      });
      const clusterId = newId('cluster');
      const source = new JetStreamTaskSource(m, s, 'node-1', logger);
      const agent = agentOf(clusterId);
      // The agent has pulled before: its queue's consumers are provisioned and remembered.
      expect(await source.pull(agent, 1, new AbortController().signal)).toEqual([]);
      await deleteNamespaceStreams(m.nc, own.ns);
      const queued = await submitter.submit({ clusterId, tenantId: 'acme', newTaskId: () => newId('task'), prepare: async (taskId) => ({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId, taskId) }) });
      // A pull that finds its consumers gone finds nothing; the next provisions them again.
      const delivery = await eventually(async () => (await source.pull(agent, 1, new AbortController().signal))[0], {
        timeoutMs: 5000,
        intervalMs: 0,
        what: 'a delivery after the wipe',
      });
      expect(delivery.task.taskId).toBe(queued.id);
      await delivery.ack({ after: 'wipe' });
      expect(await s.get(queued.id)).toMatchObject({ status: 'completed', result: { after: 'wipe' } });
      source.close();
    } finally {
      await m.close();
      await own.cleanup();
    }
  });

  it('chaos: a task running when JetStream lost its store is written back as completed by the agent that finishes it (so the ledger does not run it again)', async () => {
    const own = createTestNamespace();
    const m = await Messaging.connect({ servers: [own.natsUrl], name: 'task-source-running-wiped', namespace: own.prefix, requestTimeoutMs: 2000 });
    try {
      await ensureTaskStreams(m, { replicas: 1 });
      const s = await TaskStore.open(m, { retentionMs: 600_000, replicas: 1 });
      const queues = new TaskQueues(m, { streams: { replicas: 1 } });
      const submitter = new TaskIntake(m, s, { maxQueuedPerTenant: 1000, tenantOf: async () => 'acme', usageTtlMs: 0, recover: (queue) => queues.recoverFor(queue) });
      const clusterId = newId('cluster');
      const source = new JetStreamTaskSource(m, s, 'node-1', logger);
      const agent = agentOf(clusterId);
      const queued = await submitter.submit({ clusterId, tenantId: 'acme', newTaskId: () => newId('task'), prepare: async (taskId) => ({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId, taskId) }) });
      let delivery: TaskDelivery | undefined;
      for (let i = 0; i < 50 && !delivery; i++) delivery = (await source.pull(agent, 1, new AbortController().signal))[0];
      expect(await s.get(queued.id)).toMatchObject({ status: 'running' });
      // The store goes while the task runs: its record and its queue message with it.
      await deleteNamespaceStreams(m.nc, own.ns);
      await delivery!.ack({ ran: 'through the wipe' });
      expect(await s.get(queued.id)).toMatchObject({ id: queued.id, status: 'completed', result: { ran: 'through the wipe' }, tenant_id: 'acme', attempts: 1, node_id: 'node-1' });
      source.close();
    } finally {
      await m.close();
      await own.cleanup();
    }
  });

  it('a result too large for a NATS message fails its task once, with an error naming the limit, instead of being retried although it completed', async () => {
    const clusterId = newId('cluster');
    const source = new JetStreamTaskSource(messaging, store, 'node-1', logger, { ackWaitMs: 2000 });
    const queued = await intake.enqueue({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId) });
    const agent = agentOf(clusterId);
    const [delivery] = await pull(source, agent);
    expect(delivery?.task.taskId).toBe(queued.id);

    const huge = { text: 'z'.repeat(2 * 1024 * 1024) } as JsonValue;
    await expect(Promise.resolve(delivery!.ack(huge))).resolves.toBeUndefined();

    const after = await store.get(queued.id);
    expect(after).toMatchObject({ status: 'failed', result: null, attempts: 1 });
    expect(after?.error).toMatch(/TASK_MAX_RESULT_BYTES/);
    // Terminated: not pending, not in flight, never delivered again (not even after the ack wait).
    expect(await settledQueueState(clusterId, { pending: 0, inFlight: 0 })).toEqual({ pending: 0, inFlight: 0 });
    await new Promise((r) => setTimeout(r, 2500));
    expect(await pull(source, agent, 1)).toEqual([]);
    await eventually(() => outcomes.some((o) => o.task_id === queued.id), { timeoutMs: 3000, what: `the outcome of ${queued.id}` });
    expect(outcomes.filter((o) => o.task_id === queued.id)).toEqual([expect.objectContaining({ outcome: 'failed', final: true })]);
    source.close();
  });

  it('a result above TASK_MAX_RESULT_BYTES (though it fits a message) fails the same way; one below completes', async () => {
    const clusterId = newId('cluster');
    const source = new JetStreamTaskSource(messaging, store, 'node-1', logger, { maxResultBytes: 10_000 });
    const agent = agentOf(clusterId);
    const big = await intake.enqueue({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId) });
    const [d1] = await pull(source, agent);
    await d1!.ack({ text: 'a'.repeat(20_000) });
    expect(await store.get(big.id)).toMatchObject({ status: 'failed', error: expect.stringContaining('at most 10000') });
    const small = await intake.enqueue({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId) });
    const [d2] = await pull(source, agent);
    await d2!.ack({ text: 'ok' });
    expect(await store.get(small.id)).toMatchObject({ status: 'completed', result: { text: 'ok' } });
    source.close();
  });

  it('a queued task whose submitter died before recording it gets its record from the message, and runs once', async () => {
    const clusterId = newId('cluster');
    const task = record(clusterId);
    // What a submitter that died between queuing and recording leaves behind: the message only.
    await new TaskQueues(messaging).ensure(clusterId, null);
    await messaging.js().publish(messaging.ns.subject(taskSubjects.queue(clusterId, 'normal', null)), encodeJson(queuedTaskOf(task)), { msgID: task.id });
    expect(await store.get(task.id)).toBeUndefined();

    const source = new JetStreamTaskSource(messaging, store, 'node-1', logger);
    const [delivery] = await pull(source, agentOf(clusterId));
    expect(delivery?.task.taskId).toBe(task.id);
    expect(await store.get(task.id)).toMatchObject({ id: task.id, tenant_id: 'acme', status: 'running', queue_seq: expect.any(Number) });
    await delivery!.ack({ done: true });
    expect(await store.get(task.id)).toMatchObject({ status: 'completed', result: { done: true } });
    source.close();
  });

  it('a second copy of a task (queued again after the duplicate window) is dropped, not run', async () => {
    const clusterId = newId('cluster');
    const queued = await intake.enqueue({ subject: taskSubjects.queue(clusterId, 'normal', null), record: record(clusterId) });
    // The same task id with another Nats-Msg-Id: JetStream keeps both, as after its duplicate window.
    await messaging.js().publish(messaging.ns.subject(taskSubjects.queue(clusterId, 'normal', null)), encodeJson(queuedTaskOf(queued)), { msgID: `${queued.id}-late` });

    const source = new JetStreamTaskSource(messaging, store, 'node-1', logger);
    const agent = agentOf(clusterId);
    const [first] = await pull(source, agent);
    expect(first?.task.taskId).toBe(queued.id);
    expect(await pull(source, agent, 2)).toEqual([]);
    await first!.ack({ once: true });
    expect(await settledQueueState(clusterId, { pending: 0, inFlight: 0 })).toEqual({ pending: 0, inFlight: 0 });
    expect(await store.get(queued.id)).toMatchObject({ status: 'completed', attempts: 1 });
    source.close();
  });
});
