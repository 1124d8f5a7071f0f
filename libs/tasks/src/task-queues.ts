import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { PRIORITIES, TASKS_DLQ_STREAM, TASKS_STREAM, taskConsumer, taskSubjects, type Priority } from '@flotilla/contracts';
import { ensureConsumer, ensureStream, type Messaging } from '@flotilla/messaging';

const NANOS = 1_000_000;

/** How long an agent may hold a task without a progress heartbeat before JetStream redelivers it. */
export const TASK_ACK_WAIT_MS = 30_000;
/** Upper bound of deliveries; each task's own max_attempts is enforced by the agent below this. */
export const MAX_DELIVER = 20;

export interface TaskStreamOptions {
  readonly replicas: number;
  /** The most bytes FLOTILLA_TASKS holds (TASKS_STREAM_MAX_BYTES); publishes beyond are refused. */
  readonly maxBytes?: number;
  /** How long dead letters are kept. */
  readonly deadLetterMaxAgeMs?: number;
}

/**
 * The task streams. FLOTILLA_TASKS uses work-queue retention (a task is removed once acked) and
 * file storage. Durability: a single JetStream server fsyncs lazily (NATS' default), so a task
 * accepted in the last moments before a host crash can be lost there; production runs the stream
 * with 3 replicas (NATS_STREAM_REPLICAS=3 on a NATS cluster), where an acknowledged publish is on
 * a quorum. Task records (NATS KV) give the submitter the truth either way.
 *
 * Bounded: at most `maxBytes` (TASKS_STREAM_MAX_BYTES), with discard-new, so a publish beyond it
 * is refused (the submitter answers 503 task_queue_full) and no queued task is ever dropped to
 * make room, as discard-old would. Per-tenant shares are checked at submission (TaskIntake).
 */
export async function ensureTaskStreams(messaging: Messaging, options: TaskStreamOptions): Promise<void> {
  const jsm = await messaging.jsm();
  await ensureStream(jsm, {
    name: messaging.ns.stream(TASKS_STREAM),
    subjects: [messaging.ns.subject(taskSubjects.queueAll)],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_bytes: options.maxBytes ?? -1,
    duplicate_window: 2 * 60_000 * NANOS,
    num_replicas: options.replicas,
  });
  await ensureStream(jsm, {
    name: messaging.ns.stream(TASKS_DLQ_STREAM),
    subjects: [messaging.ns.subject(taskSubjects.deadAll)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: (options.deadLetterMaxAgeMs ?? 7 * 24 * 3_600_000) * NANOS,
    num_replicas: options.replicas,
  });
}

/** Creates (idempotently) the durable pull consumers of a cluster's queues and remembers them. */
export class TaskQueues {
  private readonly known = new Set<string>();

  private readonly ackWaitMs: number;

  private readonly streams: TaskStreamOptions | undefined;

  /**
   * `ackWaitMs`: TASK_ACK_WAIT_MS; every service that creates the queues must use the same.
   * `streams`: how the task streams are made, for a service that may create them again (`recover`).
   */
  constructor(
    private readonly messaging: Messaging,
    options: { ackWaitMs?: number; streams?: TaskStreamOptions } = {},
  ) {
    this.ackWaitMs = options.ackWaitMs ?? TASK_ACK_WAIT_MS;
    this.streams = options.streams;
  }

  /**
   * The task streams vanished (JetStream's store was lost or wiped): create them again and forget
   * every queue provisioned so far, so each is provisioned again on its next use.
   */
  async recover(): Promise<void> {
    this.known.clear();
    if (this.streams) await ensureTaskStreams(this.messaging, this.streams);
  }

  /**
   * A TaskIntake's `recover`: the streams again (see recover), and the queue a submission was
   * headed for, when it names one.
   */
  async recoverFor(queue?: { readonly clusterId: string; readonly capability: string | null }): Promise<void> {
    await this.recover();
    if (queue) await this.ensure(queue.clusterId, queue.capability);
  }

  /** Forgets that a cluster's queues were provisioned (their consumers were found missing). */
  forget(clusterId: string): void {
    for (const key of this.known) if (key.startsWith(`${clusterId}/`)) this.known.delete(key);
  }

  consumerName(clusterId: string, priority: Priority, capability: string | null | undefined): string {
    return this.messaging.ns.stream(taskConsumer(clusterId, priority, capability));
  }

  async ensure(clusterId: string, capability: string | null | undefined): Promise<void> {
    const key = `${clusterId}/${capability ?? ''}`;
    if (this.known.has(key)) return;
    const jsm = await this.messaging.jsm();
    for (const priority of PRIORITIES) {
      await ensureConsumer(jsm, this.messaging.ns.stream(TASKS_STREAM), {
        durable_name: this.consumerName(clusterId, priority, capability),
        filter_subject: this.messaging.ns.subject(taskSubjects.queue(clusterId, priority, capability)),
        ack_policy: AckPolicy.Explicit,
        ack_wait: this.ackWaitMs * NANOS,
        max_deliver: MAX_DELIVER,
        deliver_policy: DeliverPolicy.All,
        // Bounds the tasks handed out but not yet acknowledged (in flight) per queue.
        max_ack_pending: 10_000,
      });
    }
    this.known.add(key);
  }

  /**
   * Every cluster's tasks by priority, from one request for the whole stream (messages per
   * subject): what a work queue still holds, waiting or handed out and not yet acknowledged. One
   * request however many clusters, instead of one per queue.
   */
  async depthAll(): Promise<Map<string, { high: number; normal: number; low: number }>> {
    const jsm = await this.messaging.jsm();
    const info = await jsm.streams.info(this.messaging.ns.stream(TASKS_STREAM), { subjects_filter: this.messaging.ns.subject(taskSubjects.queueAll) });
    const out = new Map<string, { high: number; normal: number; low: number }>();
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      // <ns.>flotilla.taskq.<cluster>.<priority>.<capability>
      const parts = this.messaging.ns.unprefix(subject).split('.');
      const clusterId = parts[2];
      const priority = parts[3] as Priority | undefined;
      if (!clusterId || !priority || !(PRIORITIES as readonly string[]).includes(priority)) continue;
      let depth = out.get(clusterId);
      if (!depth) out.set(clusterId, (depth = { high: 0, normal: 0, low: 0 }));
      depth[priority] += count;
    }
    return out;
  }

  /** Tasks waiting in each priority queue of a cluster (and handed out, not yet acknowledged). */
  async depth(clusterId: string, capabilities: readonly (string | null)[]): Promise<{ high: number; normal: number; low: number; in_flight: number }> {
    const jsm = await this.messaging.jsm();
    const out = { high: 0, normal: 0, low: 0, in_flight: 0 };
    for (const capability of capabilities) {
      for (const priority of PRIORITIES) {
        const info = await jsm.consumers.info(this.messaging.ns.stream(TASKS_STREAM), this.consumerName(clusterId, priority, capability)).catch(() => undefined);
        if (!info) continue;
        out[priority] += info.num_pending;
        out.in_flight += info.num_ack_pending;
      }
    }
    return out;
  }
}
