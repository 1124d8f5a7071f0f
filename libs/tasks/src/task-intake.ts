import { setTimeout as delay } from 'node:timers/promises';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { TASKS_STREAM, taskSubjects, type QueuedTask } from '@flotilla/contracts';
import { PayloadTooLargeError, RateLimitedError, UnavailableError } from '@flotilla/domain';
import { encodeJson, isMissingJetStreamResource, type Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import type { TaskLedger } from './task-ledger.js';
import type { TaskRecord, TaskStore } from './task-store.js';

/** A task ready to queue: its record (status `queued`) and the queue subject (before the namespace). */
export interface PreparedTask {
  readonly record: TaskRecord;
  readonly subject: string;
  /** Headers of the queue message (trace context). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface TaskSubmission {
  readonly clusterId: string;
  /** The tenant the task counts against (TENANT_MAX_QUEUED_TASKS). */
  readonly tenantId: string;
  readonly idempotencyKey?: string | undefined;
  readonly newTaskId: () => string;
  /**
   * Builds the task for an id: routing, waking a hibernated cluster, the record. May refuse (a
   * typed error): nothing has been queued yet then.
   */
  readonly prepare: (taskId: string) => Promise<PreparedTask>;
}

export interface TaskIntakeOptions {
  /** Tasks one tenant may have in FLOTILLA_TASKS at once (queued or running); 429 beyond. */
  readonly maxQueuedPerTenant: number;
  /** The tenant of a cluster (a cluster never changes tenant: answers are cached). */
  readonly tenantOf: (clusterId: string) => Promise<string | undefined>;
  /** How long a repeat of an idempotency key waits for the first submission's record before taking it over. */
  readonly takeOverAfterMs?: number;
  /**
   * TASKS_STREAM_MAX_BYTES, as the stream was created with: a task that would take the stream
   * within 5 % of it is refused here already (see `enqueue`).
   */
  readonly maxStreamBytes?: number;
  /** How old the per-tenant count may be (one stream-info request per refresh). */
  readonly usageTtlMs?: number;
  readonly logger?: Logger;
  /**
   * Creates the task streams again (and, given one, a queue's consumers) when JetStream lost them
   * (a store wiped or replaced): the publish that missed them is then tried once more. Without it,
   * such a submission is refused (503).
   */
  readonly recover?: (queue?: { readonly clusterId: string; readonly capability: string | null }) => Promise<void>;
  /**
   * Where accepted tasks are recorded before they are queued, outside NATS (TaskLedger): without
   * it, a task queued when JetStream's store is lost is lost with it.
   */
  readonly ledger?: Pick<TaskLedger, 'accept' | 'forget'>;
}

interface Usage {
  readonly at: number;
  readonly byTenant: Map<string, number>;
  readonly bytes: number;
}

/** Room kept in a NATS message for its headers (trace context, Nats-Msg-Id). */
const HEADER_ROOM = 4096;

/** Publish refusals that mean "the stream is full" (max_bytes / max_msgs with discard new, account limits). */
const STREAM_FULL = /maximum (bytes|messages|msgs) exceeded|resource limits exceeded|insufficient (storage|resources)/i;

/** The queue message of a record: what an agent needs to run the task and, if need be, to write its record. */
export function queuedTaskOf(record: TaskRecord): QueuedTask {
  return {
    id: record.id,
    cluster_id: record.cluster_id,
    routed_to: record.routed_to,
    tenant_id: record.tenant_id,
    priority: record.priority,
    capability: record.capability,
    payload: record.payload,
    timeout_ms: record.timeout_ms,
    max_attempts: record.max_attempts,
    idempotency_key: record.idempotency_key,
    source_cluster: record.source_cluster,
    submitted_at: record.submitted_at,
  };
}

/** The record an agent writes from a queue message whose record is missing (see TaskIntake). */
export function recordOfQueuedTask(task: QueuedTask & { tenant_id: string }, queueSeq: number): TaskRecord {
  return {
    id: task.id,
    cluster_id: task.cluster_id,
    routed_to: task.routed_to,
    tenant_id: task.tenant_id,
    status: 'queued',
    priority: task.priority,
    capability: task.capability,
    payload: task.payload ?? null,
    result: null,
    error: null,
    attempts: 0,
    max_attempts: task.max_attempts,
    timeout_ms: task.timeout_ms,
    idempotency_key: task.idempotency_key ?? null,
    source_cluster: task.source_cluster,
    agent_id: null,
    node_id: null,
    submitted_at: task.submitted_at,
    started_at: null,
    finished_at: null,
    queue_seq: queueSeq,
  };
}

/**
 * Accepting a task: the ledger's row (PostgreSQL, given a `ledger`), the queue message, then the
 * record. The row outlives a NATS store that is lost or replaced: the ledger's loop queues again
 * what NATS no longer has (TaskLedgerLoop), including a task whose intake died after the row.
 *
 * Two writes to two places (a JetStream message, a KV record) cannot be one transaction, so the
 * order decides what a crash between them leaves behind. Recording first left a record that said
 * `queued` for a task no queue held, and a repeat of its idempotency key answered that phantom
 * forever. Queuing first leaves, at worst, a queued message without a record, and that repairs:
 *
 * - The message carries everything the record holds (tenant and idempotency key included), and it
 *   is published with `Nats-Msg-Id` = task id, so JetStream keeps one copy per duplicate window.
 * - A repeat of the idempotency key whose first submission has no record after `takeOverAfterMs`
 *   takes that submission over with the same task id: the publish is deduplicated, the record
 *   written. The first submission may equally have died before publishing: then this publish is
 *   the one. Either way exactly one task is queued.
 * - An agent that receives a message without a record writes the record from the message.
 * - The record names the stream sequence of the message that carries its task (`queue_seq`); an
 *   agent acks any other copy without running it (a takeover after the duplicate window).
 *
 * A record is only ever created when its message is stored, so a record that says `queued`
 * always has its message. The stream refuses messages once full (max bytes, discard new): a 503,
 * never a silent drop; and a tenant may hold at most `maxQueuedPerTenant` of its messages (429).
 */
export class TaskIntake {
  private readonly tenants = new Map<string, string>();
  private usage: Usage | undefined;
  private refreshing: Promise<Usage> | undefined;
  /** Tasks (and bytes) accepted here since the last count, so a burst between refreshes counts too. */
  private readonly since = new Map<string, number>();
  private sinceBytes = 0;

  constructor(
    private readonly messaging: Messaging,
    private readonly store: TaskStore,
    private readonly options: TaskIntakeOptions,
  ) {}

  async submit(s: TaskSubmission): Promise<TaskRecord> {
    let taskId = s.newTaskId();
    let ownClaim = false;
    if (s.idempotencyKey) {
      const first = await this.store.claimIdempotencyKey(s.clusterId, s.idempotencyKey, taskId);
      if (first) {
        const recorded = await this.awaitRecord(first);
        if (recorded) return recorded;
        // The first submission recorded nothing: it died (before or after queuing its message) or
        // is still at it. Either way, finishing it under its own task id queues it exactly once.
        this.options.logger?.warn({ taskId: first, clusterId: s.clusterId }, 'taking over a task submission that never recorded its task');
        taskId = first;
      } else {
        ownClaim = true;
      }
    }
    let prepared: PreparedTask;
    try {
      await this.checkTenantQuota(s.tenantId);
      prepared = await s.prepare(taskId);
    } catch (err) {
      // Refused before anything was queued: the key is free again, so a retry is judged afresh.
      // A taken-over key stays: the first submission's message may exist.
      if (ownClaim) await this.store.releaseIdempotencyKey(s.clusterId, s.idempotencyKey!, taskId).catch(() => undefined);
      throw err;
    }
    const ledger = this.options.ledger;
    if (ledger) {
      try {
        await ledger.accept(prepared);
      } catch (err) {
        this.options.logger?.warn({ err, taskId }, 'task ledger unavailable: task refused');
        if (ownClaim) await this.store.releaseIdempotencyKey(s.clusterId, s.idempotencyKey!, taskId).catch(() => undefined);
        throw new UnavailableError('the task ledger (PostgreSQL) is unavailable; the task was not accepted, retry later', { dependency: 'postgres' });
      }
    }
    try {
      return await this.enqueue(prepared);
    } catch (err) {
      // A refused publish (stream full, payload too large) stored nothing: free the key and the
      // ledger's row. An ambiguous failure (timeout) may have stored the message: keep both (the
      // takeover, or the ledger's loop, finishes queuing it).
      if (err instanceof PayloadTooLargeError || (err instanceof UnavailableError && err.details['reason'] === 'task_queue_full')) {
        if (ownClaim) await this.store.releaseIdempotencyKey(s.clusterId, s.idempotencyKey!, taskId).catch(() => undefined);
        await ledger?.forget([taskId]).catch(() => undefined);
      }
      throw err;
    }
  }

  /** Queues the message, then creates the record (or finds the one an agent already wrote). */
  async enqueue(prepared: PreparedTask): Promise<TaskRecord> {
    const { record } = prepared;
    const data = encodeJson(queuedTaskOf(record));
    const maxPayload = this.messaging.nc.info?.max_payload ?? 1024 * 1024;
    if (data.length + HEADER_ROOM > maxPayload) {
      throw new PayloadTooLargeError(`the task is ${data.length} bytes; a task (payload and settings) may take at most ${maxPayload - HEADER_ROOM} bytes`, {
        size: data.length,
        limit: maxPayload - HEADER_ROOM,
      });
    }
    await this.checkStreamRoom(data.length, record);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(prepared.headers ?? {})) h.set(k, v);
    let seq: number;
    const publish = () => this.messaging.js().publish(this.messaging.ns.subject(prepared.subject), data, { msgID: record.id, headers: h });
    try {
      try {
        ({ seq } = await publish());
      } catch (err) {
        // No stream stores the subject any more (JetStream's store was lost): provision it again
        // and publish once more. Safe to repeat: the message id deduplicates.
        if (!this.options.recover || !isMissingJetStreamResource(err)) throw err;
        this.options.logger?.warn({ taskId: record.id }, 'the task stream is missing; creating it again');
        await this.options.recover({ clusterId: record.routed_to, capability: record.capability });
        ({ seq } = await publish());
      }
    } catch (err) {
      throw this.refusal(err, record);
    }
    // Crash window: the task is queued and has no record yet. Whoever comes next writes it: this
    // call, a repeat of the idempotency key, or the agent that receives the message.
    this.since.set(record.tenant_id, (this.since.get(record.tenant_id) ?? 0) + 1);
    this.sinceBytes += data.length + HEADER_ROOM / 4;
    const queued: TaskRecord = { ...record, queue_seq: seq };
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.store.createOrGet(queued)).record;
      } catch (err) {
        if (attempt >= 3) {
          // Queued all the same: the agent that takes it writes the record from its message.
          this.options.logger?.warn({ err, taskId: record.id }, 'task queued, but its record could not be written yet; its agent will write it');
          return queued;
        }
        await delay(50 * attempt);
      }
    }
  }

  /** The record of a task another submission is writing, if it appears within `takeOverAfterMs`. */
  private async awaitRecord(taskId: string): Promise<TaskRecord | undefined> {
    const deadline = Date.now() + (this.options.takeOverAfterMs ?? 1000);
    for (;;) {
      const record = await this.store.get(taskId);
      if (record || Date.now() >= deadline) return record;
      await delay(50);
    }
  }

  private refusal(err: unknown, record: TaskRecord): Error {
    const message = (err as Error).message ?? String(err);
    if (STREAM_FULL.test(message)) return this.full(record, message);
    this.options.logger?.warn({ err, taskId: record.id }, 'task could not be queued');
    return new UnavailableError('the task queue is unavailable; the task may not have been accepted: retry with the same idempotency key', {
      dependency: 'jetstream',
    });
  }

  private full(record: TaskRecord, reason: string): UnavailableError {
    this.options.logger?.warn({ taskId: record.id, tenantId: record.tenant_id, reason }, 'task queue full: task refused');
    return new UnavailableError('the task queue is full (TASKS_STREAM_MAX_BYTES); the task was not accepted, retry later', {
      reason: 'task_queue_full',
      dependency: 'jetstream',
      retry_after_s: 5,
    });
  }

  /**
   * The stream refuses a message beyond its max_bytes (discard-new) by itself; this refuses one
   * that would take it within 5 % of the limit first. NATS 2.9 checks the limit against the
   * message's bare size but stores it with its subject, headers and framing, so a message that
   * passed the check could still take the stream over its limit and make it drop its oldest
   * message: a queued task lost without a word. The margin keeps the stream away from that edge.
   */
  private async checkStreamRoom(size: number, record: TaskRecord): Promise<void> {
    const max = this.options.maxStreamBytes;
    if (!max || max <= 0) return;
    const { bytes } = await this.currentUsage();
    const soft = Math.floor(max * 0.95);
    if (bytes + this.sinceBytes + size + HEADER_ROOM / 4 > soft) throw this.full(record, `${bytes + this.sinceBytes} of ${max} bytes in use`);
  }

  /** 429 once a tenant holds `maxQueuedPerTenant` messages in the stream (queued, or running unacked). */
  private async checkTenantQuota(tenantId: string): Promise<void> {
    const max = this.options.maxQueuedPerTenant;
    const { byTenant } = await this.currentUsage();
    const queued = (byTenant.get(tenantId) ?? 0) + (this.since.get(tenantId) ?? 0);
    if (queued >= max) {
      throw new RateLimitedError(`tenant '${tenantId}' has ${queued} tasks queued or running; at most ${max} may wait at once (TENANT_MAX_QUEUED_TASKS)`, {
        reason: 'tenant_queue_full',
        tenant_id: tenantId,
        queued,
        quota: max,
        retry_after_s: 5,
      });
    }
  }

  /** Messages per tenant and bytes in FLOTILLA_TASKS: one stream-info request (subjects with their counts) per refresh. */
  private async currentUsage(): Promise<Usage> {
    const ttl = this.options.usageTtlMs ?? 250;
    if (this.usage && performance.now() - this.usage.at < ttl) return this.usage;
    this.refreshing ??= this.count().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async count(): Promise<Usage> {
    const started = performance.now();
    const jsm = await this.messaging.jsm();
    const queuePrefix = this.messaging.ns.subject(taskSubjects.queueAll).slice(0, -1);
    const stream = this.messaging.ns.stream(TASKS_STREAM);
    const filter = { subjects_filter: this.messaging.ns.subject(taskSubjects.queueAll) };
    const info = await jsm.streams.info(stream, filter).catch(async (err: unknown) => {
      if (!this.options.recover || !isMissingJetStreamResource(err)) throw err;
      await this.options.recover();
      return jsm.streams.info(stream, filter);
    });
    const byCluster = new Map<string, number>();
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
      if (!subject.startsWith(queuePrefix)) continue;
      const clusterId = subject.slice(queuePrefix.length).split('.')[0]!;
      byCluster.set(clusterId, (byCluster.get(clusterId) ?? 0) + n);
    }
    const byTenant = new Map<string, number>();
    for (const [clusterId, n] of byCluster) {
      const tenant = await this.tenantOf(clusterId);
      if (tenant) byTenant.set(tenant, (byTenant.get(tenant) ?? 0) + n);
    }
    this.since.clear();
    this.sinceBytes = 0;
    this.usage = { at: started, byTenant, bytes: info.state.bytes };
    return this.usage;
  }

  private async tenantOf(clusterId: string): Promise<string | undefined> {
    const known = this.tenants.get(clusterId);
    if (known) return known;
    const tenant = await this.options.tenantOf(clusterId).catch(() => undefined);
    if (tenant) this.tenants.set(clusterId, tenant);
    if (this.tenants.size > 100_000) this.tenants.delete(this.tenants.keys().next().value as string);
    return tenant;
  }
}
