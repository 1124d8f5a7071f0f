import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import {
  ANY_CAPABILITY,
  PRIORITIES,
  PRIORITY_SCHEDULE,
  queuedTask,
  TASKS_STREAM,
  taskSubjects,
  type Priority,
  type AttemptOutcome,
  type QueuedTask,
  type TaskAttempt,
  type TaskOutcome,
} from '@flotilla/contracts';
import type { FlotillaError, JsonValue } from '@flotilla/domain';
import { decodeJson, encodeJson, isMissingJetStreamResource, type Messaging } from '@flotilla/messaging';
import { recordOfQueuedTask, TaskQueues, type TaskStore, type Versioned } from '@flotilla/tasks';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { contextFromHeaders, currentTraceHeaders, tracer, type Logger } from '@flotilla/telemetry';
import type { RunningAgentInfo, TaskDelivery, TaskSource } from '../runner/task-source.js';
import { attemptOf, withAttempt } from './lineage.js';

/** The shortest wait JetStream allows for a pull; reached only when another agent took the task. */
const NEXT_EXPIRES_MS = 1000;
/**
 * While any agent on this node is idle, how often the node looks at the queues for work nobody
 * announced (a delayed redelivery after a nak, or one after an agent died): one request for the
 * whole tasks stream per node (messages per subject), however many clusters and agents. Queued
 * tasks wake idle agents at once.
 */
const IDLE_CHECK_MS = 2000;
/**
 * How often a cluster's agents on this node also pull from queues whose only messages await
 * redelivery (an attempt whose agent died comes back after TASK_ACK_WAIT_MS; nobody announces it).
 */
const REDELIVERY_PROBE_MS = 5000;
/** TASK_MAX_RESULT_BYTES' default. */
const MAX_RESULT_BYTES = 262_144;
/** Room kept in a NATS message for the record's other fields' framing and the headers. */
const MESSAGE_ROOM = 4096;

export interface JetStreamTaskSourceOptions {
  /** TASK_ACK_WAIT_MS; every service that creates the queues must use the same. */
  readonly ackWaitMs?: number;
  /** TASK_MAX_RESULT_BYTES: a larger result fails its task (once, finally) instead of completing it. */
  readonly maxResultBytes?: number;
}

/**
 * One cluster's idle agents on this node: a core subscription to its queue subjects (every queued
 * task wakes them); the node's periodic look at the queues wakes them too when theirs hold work.
 */
class ClusterWatch {
  /** Moves on every wake: an agent that found nothing compares it to know whether to sleep. */
  generation = 0;
  private readonly waiters = new Set<() => void>();
  private readonly sub: Subscription;

  constructor(messaging: Messaging, clusterId: string) {
    this.sub = messaging.nc.subscribe(messaging.ns.subject(taskSubjects.cluster(clusterId)), { callback: () => this.wake() });
  }

  get idle(): boolean {
    return this.waiters.size > 0;
  }

  wake(): void {
    this.generation++;
    for (const wake of [...this.waiters]) wake();
  }

  /** Until a wake after `seen`, or the signal. */
  wait(seen: number, signal: AbortSignal): Promise<void> {
    if (this.generation !== seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  close(): void {
    this.sub.unsubscribe();
    this.wake();
  }
}

/**
 * Tasks for the node's agents from the JetStream queues: an agent pulls from the queues of the
 * capabilities it declares, and a worker also from its cluster's `_any` queues. Priorities are
 * weighted 6:3:1 (PRIORITY_SCHEDULE): each pull starts at the scheduled priority and falls back
 * to the others, so a backlog of low tasks never blocks a high one and is never starved.
 *
 * An agent that finds nothing waits (holding none of the node's slots) until a task is queued for
 * its cluster; a cluster's idle agents on one node share one subscription, and the node looks at
 * the whole tasks stream once per period while any agent waits.
 *
 * Delivery is at-least-once; the task record (NATS KV, compare-and-set) makes the effect
 * exactly-once: a redelivered task whose record already says completed is acked without running
 * again (and its result re-announced, in case the first announcement was lost). The record is
 * written before the message is acked, so an acknowledged task always has its result.
 *
 * A message without a record (its submitter died between queuing and recording it, see
 * TaskIntake) gets its record written here, from the message. A copy of a task other than the
 * one its record names (`queue_seq`) is acked without running.
 *
 * A result must fit the record and the announcement, each one NATS message: one larger than
 * TASK_MAX_RESULT_BYTES (or than the server's max_payload allows) ends the task as failed, with
 * an error naming the limit, and its message is terminated: a task that ran to completion is not
 * retried because its result could not be stored.
 */
type TaskRecordLike = Versioned['record'];

export class JetStreamTaskSource implements TaskSource {
  private readonly queues: TaskQueues;
  private readonly consumers = new Map<string, Consumer>();
  private readonly cursors = new Map<string, number>();
  /** Agents that found nothing, with the watch generation they saw before looking. */
  private readonly idle = new Map<string, number>();
  private readonly watches = new Map<string, ClusterWatch>();
  /** Clusters whose queue was found missing (warned about once until a pull works again). */
  private readonly missing = new Set<string>();
  /** Per cluster, when its queues may next hold a message due for redelivery (see redeliveryDue). */
  private readonly redeliveryAt = new Map<string, number>();
  private scanTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private readonly maxResultBytes: number;

  constructor(
    private readonly messaging: Messaging,
    private readonly store: TaskStore,
    private readonly nodeId: string,
    private readonly logger: Logger,
    options: JetStreamTaskSourceOptions = {},
  ) {
    this.queues = new TaskQueues(messaging, options.ackWaitMs ? { ackWaitMs: options.ackWaitMs } : {});
    this.maxResultBytes = options.maxResultBytes ?? MAX_RESULT_BYTES;
  }

  async waitForWork(agent: RunningAgentInfo, signal: AbortSignal): Promise<void> {
    const seen = this.idle.get(agent.agentId);
    if (seen === undefined) return;
    this.scanWhileIdle();
    await this.watch(agent.clusterId).wait(seen, signal);
    this.idle.delete(agent.agentId);
  }

  /** While agents wait, one look at the whole tasks stream every IDLE_CHECK_MS wakes those whose queues hold work. */
  private scanWhileIdle(): void {
    if (this.scanTimer || this.closed) return;
    this.scanTimer = setTimeout(() => {
      this.scanTimer = undefined;
      const idle = [...this.watches].filter(([, w]) => w.idle);
      if (idle.length === 0 || this.closed) return;
      this.queues.depthAll().then(
        (depths) => {
          for (const [clusterId, w] of idle) {
            const d = depths.get(clusterId);
            if (d && d.high + d.normal + d.low > 0) w.wake();
          }
        },
        // No tasks stream (JetStream lost its store, nobody has queued a task since): nothing waits.
        (err: unknown) => {
          if (!isMissingJetStreamResource(err)) this.logger.warn({ err }, 'looking at the task queues failed');
        },
      ).finally(() => this.scanWhileIdle());
    }, IDLE_CHECK_MS);
    this.scanTimer.unref();
  }

  async pull(agent: RunningAgentInfo, max: number, signal: AbortSignal): Promise<readonly TaskDelivery[]> {
    const seen = this.watch(agent.clusterId).generation;
    try {
      const out = await this.pullFrom(agent, max, signal, seen);
      this.missing.delete(agent.clusterId);
      return out;
    } catch (err) {
      if (!isMissingJetStreamResource(err)) throw err;
      // The queue's consumers (or the whole tasks stream) vanished: JetStream's store was lost or
      // wiped. Forget the handles, so the next pull provisions the consumers again instead of
      // asking for ones that no longer exist, for good. Nothing is queued where there is no
      // queue: the agent idles until a task is queued for its cluster (whose submission
      // provisions the stream again) or the periodic look at the queues finds work.
      this.forgetCluster(agent.clusterId);
      if (!this.missing.has(agent.clusterId)) {
        this.missing.add(agent.clusterId);
        this.logger.warn({ clusterId: agent.clusterId, err: (err as Error).message }, 'task queue missing; provisioning it again on the next pull');
      }
      this.idle.set(agent.agentId, seen);
      return [];
    }
  }

  private forgetCluster(clusterId: string): void {
    for (const key of [...this.consumers.keys()]) if (key.startsWith(`${clusterId}/`)) this.consumers.delete(key);
    this.queues.forget(clusterId);
  }

  private async pullFrom(agent: RunningAgentInfo, max: number, signal: AbortSignal, seen: number): Promise<readonly TaskDelivery[]> {
    const candidates = await this.candidates(agent);
    if (candidates.length === 0) {
      // An agent with nothing to pull from idles instead of spinning.
      this.idle.set(agent.agentId, seen);
      return [];
    }
    // JetStream pulls wait at least a second on an empty queue, so ask each queue what it holds
    // first (one cheap request each) and take only from queues that have work, in schedule order.
    // A consumer's `num_pending` leaves out messages waiting to be delivered again (a nak'd
    // attempt's backoff, an attempt whose agent died): those count only as acknowledgement-pending.
    // So queues with such messages are pulled from too when one is due: after this node's own
    // nak'd attempt's backoff, and otherwise once every REDELIVERY_PROBE_MS per cluster.
    const redeliveries = this.redeliveryDue(agent.clusterId);
    const pending = await Promise.all(candidates.map((c) => c.info().then((i) => i.num_pending + (redeliveries ? i.num_ack_pending : 0))));
    const out: TaskDelivery[] = [];
    for (const [i, consumer] of candidates.entries()) {
      let left = pending[i]!;
      while (left > 0 && out.length < max && !signal.aborted) {
        const m = await consumer.next({ expires: NEXT_EXPIRES_MS });
        if (!m) break;
        left--;
        const delivery = await this.accept(m, agent);
        if (delivery) out.push(delivery);
      }
      if (out.length >= max) break;
    }
    if (out.length === 0) this.idle.set(agent.agentId, seen);
    return out;
  }

  /** The agent's queues, in this pull's priority order. */
  private async candidates(agent: RunningAgentInfo): Promise<Consumer[]> {
    const capabilities: (string | null)[] = [...agent.spec.capabilities];
    if (agent.spec.role === 'worker') capabilities.push(null);
    if (capabilities.length === 0) return [];
    const cursor = this.cursors.get(agent.agentId) ?? 0;
    this.cursors.set(agent.agentId, cursor + 1);
    const first = PRIORITY_SCHEDULE[cursor % PRIORITY_SCHEDULE.length]!;
    const order: Priority[] = [first, ...PRIORITIES.filter((p) => p !== first)];
    return Promise.all(order.flatMap((priority) => capabilities.map((capability) => this.consumer(agent.clusterId, priority, capability))));
  }

  /**
   * Whether the cluster's queues may hold a message due for redelivery now: a nak'd attempt's
   * backoff ran out, or the periodic probe is due. Answering yes starts a new probe period.
   */
  private redeliveryDue(clusterId: string): boolean {
    const now = Date.now();
    const due = this.redeliveryAt.get(clusterId);
    if (due !== undefined && due <= now) {
      this.redeliveryAt.set(clusterId, now + REDELIVERY_PROBE_MS);
      return true;
    }
    if (due === undefined) this.redeliveryAt.set(clusterId, now + REDELIVERY_PROBE_MS);
    return false;
  }

  /** A nak'd attempt comes back after `delayMs`: wake the cluster's idle agents then. */
  private expectRedelivery(clusterId: string, delayMs: number): void {
    const at = Date.now() + delayMs;
    const current = this.redeliveryAt.get(clusterId);
    if (current === undefined || at < current) this.redeliveryAt.set(clusterId, at);
    const timer = setTimeout(() => this.watches.get(clusterId)?.wake(), delayMs + 20);
    timer.unref();
  }

  /** Forgets what it kept for an agent (its schedule cursor and idle mark). */
  forget(agentId: string): void {
    this.cursors.delete(agentId);
    this.idle.delete(agentId);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.scanTimer);
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
  }

  private watch(clusterId: string): ClusterWatch {
    let w = this.watches.get(clusterId);
    if (!w) {
      w = new ClusterWatch(this.messaging, clusterId);
      this.watches.set(clusterId, w);
    }
    return w;
  }

  private async consumer(clusterId: string, priority: Priority, capability: string | null): Promise<Consumer> {
    const key = `${clusterId}/${priority}/${capability ?? ANY_CAPABILITY}`;
    let consumer = this.consumers.get(key);
    if (!consumer) {
      await this.queues.ensure(clusterId, capability);
      consumer = await this.messaging.js().consumers.get(this.messaging.ns.stream(TASKS_STREAM), this.queues.consumerName(clusterId, priority, capability));
      this.consumers.set(key, consumer);
    }
    return consumer;
  }

  /** Turns a message into a delivery, or settles it here (duplicate, malformed, out of attempts). */
  private async accept(m: JsMsg, agent: RunningAgentInfo): Promise<TaskDelivery | undefined> {
    const parsed = queuedTask.safeParse(decodeJson(m.data));
    if (!parsed.success) {
      this.logger.warn({ subject: m.subject }, 'malformed task message; dropped');
      m.term();
      return undefined;
    }
    const task = parsed.data;
    const attempt = m.info.deliveryCount;
    // The task continues the trace of whoever submitted it (also across clusters: an
    // inter-cluster task carries its source cluster), through execution to its outcome.
    const carrier: Record<string, string> = {};
    for (const k of ['traceparent', 'tracestate']) {
      const v = m.headers?.get(k);
      if (v) carrier[k] = v;
    }
    const span = tracer().startSpan(
      `task ${task.routed_to}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'flotilla.task_id': task.id,
          'flotilla.cluster_id': task.cluster_id,
          'flotilla.routed_to': task.routed_to,
          'flotilla.source_cluster': task.source_cluster ?? '',
          'flotilla.attempt': attempt,
          'flotilla.node_id': this.nodeId,
        },
      },
      contextFromHeaders(carrier),
    );
    const ctx = trace.setSpan(context.active(), span);
    try {
      return await context.with(ctx, () => this.admit(m, task, attempt, agent, span, ctx));
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.end();
      throw err;
    }
  }

  private async admit(m: JsMsg, task: QueuedTask, attempt: number, agent: RunningAgentInfo, span: Span, ctx: Context): Promise<TaskDelivery | undefined> {
    let read: Versioned | undefined = await this.store.read(task.id);
    if (!read && task.tenant_id) {
      // Queued, never recorded: its submitter died in between (or the record expired while the
      // task waited). The message holds what the record needs.
      read = await this.store.createOrGet(recordOfQueuedTask({ ...task, tenant_id: task.tenant_id }, m.seq));
      this.logger.info({ taskId: task.id }, 'task had no record; recorded it from its queue message');
    }
    const record = read?.record;
    if (record?.status === 'completed') {
      this.announce(task, { ok: true, attempt: record.attempts, agentId: record.agent_id ?? agent.agentId, latencyMs: 0, result: record.result as JsonValue, error: null, final: true }, ctx);
      m.ack();
      span.setAttribute('flotilla.duplicate', true);
      span.end();
      return undefined;
    }
    if (record?.queue_seq !== undefined && record.queue_seq !== m.seq) {
      // Another copy of a task whose record names its message (a resubmission that took over a
      // dead one after JetStream's duplicate window): that message runs it, not this one.
      this.logger.info({ taskId: task.id, seq: m.seq, recordedSeq: record.queue_seq }, 'duplicate copy of a queued task; dropped');
      m.ack();
      span.setAttribute('flotilla.duplicate', true);
      span.end();
      return undefined;
    }
    if (record && (record.status === 'failed' || record.status === 'dead_lettered' || record.status === 'rejected')) {
      // Already ended (a result too large, dead-lettered by another agent): never run again.
      m.term();
      span.setAttribute('flotilla.duplicate', true);
      span.end();
      return undefined;
    }
    if (attempt > task.max_attempts) {
      // Redelivered past its last attempt (an agent died holding it): dead-letter it now.
      await this.deadLetter(m, task, agent, `no result after ${task.max_attempts} attempt(s)`, attempt, ctx);
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'dead-lettered' });
      span.end();
      return undefined;
    }
    const startedAt = new Date().toISOString();
    // Compare-and-set on the revision just read (no second read), and on the one written here next.
    let written = await this.store.updateVersioned(task.id, (t) => ({ ...t, status: 'running', attempts: attempt, agent_id: agent.agentId, node_id: this.nodeId, started_at: t.started_at ?? startedAt }), read);
    const started = performance.now();
    // The attempt as the task's lineage records it, written with the attempt's end.
    const attemptEnd = (finishedAt: string, end: { result?: JsonValue; error?: string }): TaskAttempt =>
      attemptOf({ attempt, agentId: agent.agentId, nodeId: this.nodeId, spec: agent.spec, startedAt, finishedAt, durationMs: performance.now() - started, ...end });
    return {
      task: { taskId: task.id, clusterId: task.routed_to, capability: task.capability, input: task.payload as JsonValue, timeoutMs: task.timeout_ms, attempt },
      working: () => m.working(),
      ack: async (result: JsonValue) => {
        const finishedAt = new Date().toISOString();
        try {
          const tooLarge = this.oversized(result, written?.record);
          if (tooLarge) {
            // The task ran to completion; its result cannot be stored. It ends here, failed, once:
            // no retry (it would produce the same), no completed record without its result.
            span.setStatus({ code: SpanStatusCode.ERROR, message: tooLarge });
            const ended = attemptEnd(finishedAt, { result, error: tooLarge });
            written = await this.finish(task, m.seq, (t) => ({ ...t, status: 'failed', result: null, error: tooLarge, attempts: attempt, finished_at: finishedAt, lineage: withAttempt(t.lineage, ended) }), written);
            await this.account(task, ended);
            this.announce(task, { ok: false, attempt, agentId: agent.agentId, latencyMs: performance.now() - started, result: null, error: tooLarge, final: true, lineage: ended }, ctx);
            m.term();
            this.logger.warn({ taskId: task.id, error: tooLarge }, 'task result too large: task failed');
            return;
          }
          const ended = attemptEnd(finishedAt, { result });
          written = await this.finish(task, m.seq, (t) => ({ ...t, status: 'completed', result, error: null, attempts: attempt, agent_id: agent.agentId, node_id: this.nodeId, finished_at: finishedAt, lineage: withAttempt(t.lineage, ended) }), written);
          await this.account(task, ended);
          this.announce(task, { ok: true, attempt, agentId: agent.agentId, latencyMs: performance.now() - started, result, error: null, final: true, lineage: ended }, ctx);
          m.ack();
        } finally {
          span.end();
        }
      },
      nak: async (delayMs: number, error: FlotillaError) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        try {
          const ended = attemptEnd(new Date().toISOString(), { error: error.message });
          if (attempt >= task.max_attempts) {
            await this.deadLetter(m, task, agent, error.message, attempt, ctx, ended);
            return;
          }
          written = await this.store.updateVersioned(task.id, (t) => ({ ...t, status: 'queued', error: error.message, lineage: withAttempt(t.lineage, ended) }), written);
          await this.account(task, ended);
          this.announce(task, { ok: false, attempt, agentId: agent.agentId, latencyMs: performance.now() - started, result: null, error: error.message, final: false, lineage: ended }, ctx);
          m.nak(delayMs);
          this.expectRedelivery(task.routed_to, delayMs);
        } finally {
          span.end();
        }
      },
    };
  }

  /**
   * Writes a task's final state. A record that vanished while the task ran (JetStream's store was
   * lost) is written again from the queue message, so the task's end is known; the orchestrator's
   * task ledger, which queues lost tasks again, then sees it finished instead of running it twice.
   */
  private async finish(task: QueuedTask, seq: number, change: (t: TaskRecordLike) => TaskRecordLike, known: Versioned | undefined): Promise<Versioned | undefined> {
    const written = await this.store.updateVersioned(task.id, change, known);
    if (written || !task.tenant_id) return written;
    const ours = change(recordOfQueuedTask({ ...task, tenant_id: task.tenant_id }, seq));
    const found = await this.store.createOrGet(ours);
    // Queued again meanwhile (by the ledger): this run ends it all the same.
    return found.record === ours ? found : this.store.updateVersioned(task.id, change, found);
  }

  private async deadLetter(m: JsMsg, task: QueuedTask, agent: RunningAgentInfo, reason: string, attempt: number, ctx: Context, ended?: TaskAttempt): Promise<void> {
    const h = natsHeaders();
    h.set('Flotilla-Dead-Reason', reason.slice(0, 500));
    await this.messaging.js().publish(this.messaging.ns.subject(taskSubjects.dead(task.cluster_id, task.id)), m.data, { headers: h, msgID: `dead-${task.id}` });
    const finishedAt = new Date().toISOString();
    await this.store.update(task.id, (t) => ({ ...t, status: 'dead_lettered', attempts: attempt, error: reason, finished_at: finishedAt, ...(ended ? { lineage: withAttempt(t.lineage, ended) } : {}) }));
    if (ended) await this.account(task, ended);
    this.announce(task, { ok: false, attempt, agentId: agent.agentId, latencyMs: ended?.duration_ms ?? 0, result: null, error: reason, final: true, ...(ended ? { lineage: ended } : {}) }, ctx);
    m.term();
  }

  /**
   * Why a result cannot be stored: larger than TASK_MAX_RESULT_BYTES, or than what fits in one
   * NATS message next to the rest of the task's record; undefined when it fits.
   */
  private oversized(result: JsonValue, record: TaskRecordLike | undefined): string | undefined {
    const size = Buffer.byteLength(JSON.stringify(result ?? null));
    if (size > this.maxResultBytes) return `the task's result is ${size} bytes; at most ${this.maxResultBytes} are accepted (TASK_MAX_RESULT_BYTES): the task ran but its result was not kept`;
    const maxPayload = this.messaging.nc.info?.max_payload ?? 1024 * 1024;
    const rest = record ? Buffer.byteLength(JSON.stringify(record)) : 0;
    if (size + rest + MESSAGE_ROOM > maxPayload) return `the task's result is ${size} bytes; with its ${rest}-byte record it does not fit one NATS message (max_payload ${maxPayload} bytes): the task ran but its result was not kept`;
    return undefined;
  }

  /**
   * Publishes the attempt for accounting (JetStream, FLOTILLA_TASK_OUTCOMES, under this node's
   * subject), its message id the task and attempt, so a retry or a redelivery never counts it
   * twice. The record already holds the attempt; a publish that fails is logged, and the task goes
   * on (its cost stays in its lineage, not in the cluster's totals).
   */
  private async account(task: QueuedTask, ended: TaskAttempt): Promise<void> {
    const outcome: AttemptOutcome = { task_id: task.id, cluster_id: task.cluster_id, routed_to: task.routed_to, tenant_id: task.tenant_id ?? null, lineage: ended };
    try {
      await this.messaging.js().publish(this.messaging.ns.subject(taskSubjects.attemptOutcome(this.nodeId, task.routed_to, task.id)), encodeJson(outcome), { msgID: `${task.id}.${ended.attempt}`, timeout: 2000 });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, taskId: task.id, attempt: ended.attempt }, 'task attempt could not be published for accounting');
    }
  }

  /** Publishes the outcome on `flotilla.tasks.<cluster>.<task>.completed|failed` (core NATS). */
  private announce(
    task: QueuedTask,
    o: { ok: boolean; attempt: number; agentId: string; latencyMs: number; result: JsonValue | null; error: string | null; final: boolean; lineage?: TaskAttempt },
    ctx: Context,
  ): void {
    const outcome: TaskOutcome = {
      task_id: task.id,
      cluster_id: task.cluster_id,
      routed_to: task.routed_to,
      outcome: o.ok ? 'completed' : 'failed',
      final: o.final,
      attempt: o.attempt,
      agent_id: o.agentId,
      node_id: this.nodeId,
      latency_ms: Math.round(o.latencyMs),
      result: o.result,
      error: o.error,
      at: new Date().toISOString(),
      ...(task.tenant_id ? { tenant_id: task.tenant_id } : {}),
      ...(o.lineage ? { lineage: o.lineage } : {}),
    };
    const h = natsHeaders();
    for (const [k, v] of Object.entries(currentTraceHeaders(ctx))) h.set(k, v);
    try {
      this.messaging.nc.publish(this.messaging.ns.subject(taskSubjects.result(task.cluster_id, task.id, outcome.outcome)), encodeJson(outcome), { headers: h });
    } catch (err) {
      // At most once by design (the record is the truth): a lost announcement never fails the task.
      this.logger.warn({ err, taskId: task.id }, 'task outcome could not be announced');
    }
  }
}
