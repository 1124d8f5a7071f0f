import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Config } from '@flotilla/config';
import {
  taskSubjects,
  type SubmitTaskRequest,
  type TaskView,
  spansAllTenants,
} from '@flotilla/contracts';
import {
  ConflictError,
  newId,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
  type ExistingCluster,
} from '@flotilla/domain';
import { encodeJson, Messaging, type RequestMeta } from '@flotilla/messaging';
import { CONFIG, LOGGER } from '@flotilla/platform';
import { ensureTaskStreams, TaskQueues, TaskStore } from '@flotilla/tasks';
import { currentTraceHeaders, type Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { identityOf, now } from '../infrastructure/request-context.js';

/**
 * Submitting and reading tasks. A task is recorded (NATS KV) and then queued on JetStream in the
 * queue of its cluster, priority and capability; node agents pull it from there. The cluster's
 * circuit breaker decides where it goes: to the cluster, to its backup while open, or nowhere
 * (503) when open without a backup.
 */
@Injectable()
export class TasksService implements OnModuleInit {
  private store!: TaskStore;
  readonly queues: TaskQueues;
  /** Task submissions per tenant (a token bucket per replica: TENANT_MAX_TASKS_PER_SECOND). */
  private readonly rate = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly messaging: Messaging,
    private readonly clusters: ClustersService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.queues = new TaskQueues(messaging, { ackWaitMs: config.TASK_ACK_WAIT_MS });
  }

  async onModuleInit(): Promise<void> {
    await ensureTaskStreams(this.messaging, { replicas: this.config.NATS_STREAM_REPLICAS });
    this.store = await TaskStore.open(this.messaging, {
      retentionMs: this.config.TASK_RETENTION_MS,
      replicas: this.config.NATS_STREAM_REPLICAS,
    });
  }

  async get(id: string, meta: RequestMeta): Promise<TaskView> {
    const record = await this.store.require(id);
    const identity = identityOf(meta);
    if (!spansAllTenants(identity) && record.tenant_id !== identity.tenantId)
      throw NotFoundError.of('task', id);
    return record;
  }

  async submit(req: SubmitTaskRequest, meta: RequestMeta): Promise<TaskView> {
    const cluster = await this.clusters.visibleState(req.cluster_id, meta);
    this.takeRateToken(cluster.tenantId);
    const key = req.idempotency_key ?? meta.idempotencyKey;
    const taskId = newId('task');
    if (cluster.status === 'decommissioning' || cluster.status === 'decommissioned') {
      throw new ConflictError(
        `cluster '${cluster.clusterId}' is ${cluster.status} and takes no tasks`,
        { reason: 'cluster_decommissioned', status: cluster.status },
      );
    }
    if (
      (cluster.status === 'hibernated' || cluster.status === 'hibernating') &&
      !cluster.policy.wakeOnTask
    ) {
      throw new ConflictError(
        `cluster '${cluster.clusterId}' is ${cluster.status} and does not wake on tasks; reactivate it first`,
        {
          reason: 'cluster_hibernated',
          status: cluster.status,
        },
      );
    }
    if (key) {
      const first = await this.store.claimIdempotencyKey(req.cluster_id, key, taskId);
      if (first) return this.firstSubmission(first);
    }
    try {
      return await this.enqueue(req, meta, cluster, taskId, key);
    } catch (err) {
      // Refused before its task existed (waking failed, no route): the key is free again.
      if (key && !(await this.store.get(taskId).catch(() => undefined))) await this.store.releaseIdempotencyKey(req.cluster_id, key, taskId).catch(() => undefined);
      throw err;
    }
  }

  /** The task a repeat of an idempotency key refers to; the first submission may still be writing it. */
  private async firstSubmission(taskId: string): Promise<TaskView> {
    for (let attempt = 0; ; attempt += 1) {
      const record = await this.store.get(taskId);
      if (record) return record;
      if (attempt >= 50) return this.store.require(taskId);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async enqueue(req: SubmitTaskRequest, meta: RequestMeta, found: ExistingCluster, taskId: string, key: string | undefined): Promise<TaskView> {
    let cluster = found;
    if (cluster.status === 'hibernated') {
      // Wake on work: the task waits in the queue while the workers start.
      await this.clusters.command(
        cluster.clusterId,
        {
          type: 'ReactivateCluster',
          data: { reason: `woken by task ${taskId}` },
          metadata: { now: now() },
        },
        meta,
        false,
      );
      cluster = (await this.clusters.state(cluster.clusterId)) as ExistingCluster;
    }
    const routedTo = await this.route(cluster);
    const record: TaskView = {
      id: taskId,
      cluster_id: cluster.clusterId,
      routed_to: routedTo,
      tenant_id: cluster.tenantId,
      status: 'queued',
      priority: req.priority,
      capability: req.capability ?? null,
      payload: req.payload ?? null,
      result: null,
      error: null,
      attempts: 0,
      max_attempts: req.max_attempts,
      timeout_ms: req.timeout_ms,
      idempotency_key: key ?? null,
      source_cluster: req.source_cluster ?? null,
      agent_id: null,
      node_id: null,
      submitted_at: now(),
      started_at: null,
      finished_at: null,
    };
    await this.store.create(record);
    try {
      const target =
        routedTo === cluster.clusterId
          ? cluster
          : ((await this.clusters.state(routedTo)) as ExistingCluster);
      const capability =
        req.capability && offersCapability(target, req.capability) ? req.capability : null;
      await this.queues.ensure(routedTo, capability);
      const h = natsHeaders();
      for (const [k, v] of Object.entries(currentTraceHeaders())) h.set(k, v);
      await this.messaging.js().publish(
        this.messaging.ns.subject(taskSubjects.queue(routedTo, req.priority, capability)),
        encodeJson({
          id: taskId,
          cluster_id: cluster.clusterId,
          routed_to: routedTo,
          priority: req.priority,
          capability: req.capability ?? null,
          payload: record.payload,
          timeout_ms: req.timeout_ms,
          max_attempts: req.max_attempts,
          source_cluster: record.source_cluster,
          submitted_at: record.submitted_at,
        }),
        { msgID: taskId, headers: h },
      );
    } catch (err) {
      await this.store.update(taskId, (t) => ({
        ...t,
        status: 'rejected',
        error: 'could not be queued',
        finished_at: now(),
      }));
      this.logger.warn({ err, taskId }, 'task could not be queued');
      throw new UnavailableError('the task queue is unavailable; the task was not accepted', {
        dependency: 'jetstream',
      });
    }
    return record;
  }

  private takeRateToken(tenantId: string): void {
    const rate = this.config.TENANT_MAX_TASKS_PER_SECOND;
    const now = performance.now();
    const b = this.rate.get(tenantId) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.rate.set(tenantId, b);
    if (b.tokens < 1) {
      throw new RateLimitedError(`tenant '${tenantId}' submits more than ${rate} tasks per second`, { retry_after_s: 1, quota: rate });
    }
    b.tokens -= 1;
  }

  /**
   * The cluster the task runs on, from the circuit breaker's state. A backup of another tenant is
   * never used, whatever the cluster recorded (it may predate the check at creation, or the id
   * may since belong to someone else): the task is refused exactly as if there were no backup,
   * so the reply does not tell whether another tenant's cluster exists.
   */
  private async route(cluster: ExistingCluster): Promise<string> {
    if (cluster.circuit !== 'open') return cluster.clusterId;
    if (cluster.backupCluster) {
      const backup = await this.clusters.state(cluster.backupCluster);
      if (backup.status !== 'none' && backup.tenantId !== cluster.tenantId) {
        this.logger.warn(
          { clusterId: cluster.clusterId, backupCluster: cluster.backupCluster },
          "backup cluster belongs to another tenant; not forwarding this cluster's tasks to it",
        );
      } else if (
        backup.status !== 'none' &&
        backup.status !== 'decommissioned' &&
        backup.status !== 'decommissioning'
      )
        return backup.clusterId;
    }
    throw new UnavailableError(
      `the circuit breaker of cluster '${cluster.clusterId}' is open and it has no usable backup cluster`,
      {
        reason: 'circuit_open',
        cluster_id: cluster.clusterId,
        retry_after_s: cluster.blueprint.cluster.circuitBreaker.openSeconds,
      },
    );
  }
}

/** Whether any agent of the cluster declares the capability (else the task goes to the workers). */
export function offersCapability(cluster: ExistingCluster, capability: string): boolean {
  return cluster.blueprint.agents.some((a) => a.capabilities.includes(capability));
}
