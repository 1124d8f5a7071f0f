import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type pg from 'pg';
import type { Config } from '@flotilla/config';
import {
  taskSubjects,
  type SubmitTaskRequest,
  type TaskView,
  spansAllTenants,
  usageOf,
} from '@flotilla/contracts';
import {
  ConflictError,
  newId,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
  activeBudgetActions,
  describeCrossing,
  periodOf,
  type ExistingCluster,
} from '@flotilla/domain';
import { Messaging, type RequestMeta } from '@flotilla/messaging';
import { CONFIG, LOGGER, PG_POOL } from '@flotilla/platform';
import { ensureTaskStreams, listDeadLetters, TaskIntake, TaskLedger, TaskLedgerLoop, TaskQueues, TaskStore, type PreparedTask, type TaskRecord } from '@flotilla/tasks';
import { currentTraceHeaders, type Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { identityOf, now } from '../infrastructure/request-context.js';

/** How long a task may be accepted without a record before the ledger counts it as lost. */
const LEDGER_GRACE_MS = 15_000;
/** How often the ledger's loop looks for lost tasks and for a replaced NATS store. */
const LEDGER_INTERVAL_MS = 2_000;

/**
 * Submitting and reading tasks. A task is written to the task ledger (PostgreSQL), queued on
 * JetStream in the queue of its cluster, priority and capability, then recorded (NATS KV); node
 * agents pull it from the queue. The order, the takeover of a submission that died half-way and
 * the limits (the stream's bytes, each tenant's queued tasks) are TaskIntake's; queuing again
 * what NATS lost is the ledger's loop's (`ledgerLoop`, a singleton). The cluster's circuit breaker decides where a task
 * goes: to the cluster, to its backup while open, or nowhere (503) when open without a backup.
 */
@Injectable()
export class TasksService implements OnModuleInit {
  private store!: TaskStore;
  private intake!: TaskIntake;
  private readonly ledger: TaskLedger;
  readonly queues: TaskQueues;
  /** Task submissions per tenant (a token bucket per replica: TENANT_MAX_TASKS_PER_SECOND). */
  private readonly rate = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly messaging: Messaging,
    private readonly clusters: ClustersService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PG_POOL) pool: pg.Pool,
  ) {
    this.ledger = new TaskLedger(pool);
    this.queues = new TaskQueues(messaging, {
      ackWaitMs: config.TASK_ACK_WAIT_MS,
      streams: { replicas: config.NATS_STREAM_REPLICAS, maxBytes: config.TASKS_STREAM_MAX_BYTES },
    });
  }

  async onModuleInit(): Promise<void> {
    await this.ledger.ensureSchema();
    await ensureTaskStreams(this.messaging, { replicas: this.config.NATS_STREAM_REPLICAS, maxBytes: this.config.TASKS_STREAM_MAX_BYTES });
    this.store = await TaskStore.open(this.messaging, {
      retentionMs: this.config.TASK_RETENTION_MS,
      replicas: this.config.NATS_STREAM_REPLICAS,
    });
    this.intake = new TaskIntake(this.messaging, this.store, {
      maxQueuedPerTenant: this.config.TENANT_MAX_QUEUED_TASKS,
      maxStreamBytes: this.config.TASKS_STREAM_MAX_BYTES,
      tenantOf: async (clusterId) => {
        const state = await this.clusters.state(clusterId);
        return state.status === 'none' ? undefined : state.tenantId;
      },
      logger: this.logger,
      // JetStream lost the task streams (its store wiped or replaced): provision them again.
      recover: (queue) => this.queues.recoverFor(queue),
      ledger: this.ledger,
    });
  }

  /** The singleton loop that forgets finished tasks and queues again those NATS lost. */
  ledgerLoop(): TaskLedgerLoop {
    return new TaskLedgerLoop(this.messaging, this.ledger, this.store, (task) => this.intake.enqueue(task), {
      graceMs: LEDGER_GRACE_MS,
      intervalMs: LEDGER_INTERVAL_MS,
      retentionMs: this.config.TASK_RETENTION_MS,
      logger: this.logger,
    });
  }

  async get(id: string, meta: RequestMeta): Promise<TaskView> {
    const record = await this.store.require(id);
    const identity = identityOf(meta);
    if (!spansAllTenants(identity) && record.tenant_id !== identity.tenantId)
      throw NotFoundError.of('task', id);
    return view(record);
  }

  /** A cluster's dead letters, newest first (another tenant's cluster is not found). */
  async deadLetters(clusterId: string, limit: number, meta: RequestMeta) {
    const cluster = await this.clusters.visibleState(clusterId, meta);
    const { total, deadLetters } = await listDeadLetters(this.messaging, cluster.clusterId, limit);
    return { cluster_id: cluster.clusterId, total, dead_letters: deadLetters };
  }

  async submit(req: SubmitTaskRequest, meta: RequestMeta): Promise<TaskView> {
    const cluster = await this.clusters.visibleState(req.cluster_id, meta);
    this.takeRateToken(cluster.tenantId);
    const key = req.idempotency_key ?? meta.idempotencyKey;
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
    const record = await this.intake.submit({
      clusterId: req.cluster_id,
      tenantId: cluster.tenantId,
      idempotencyKey: key,
      newTaskId: () => newId('task'),
      prepare: (taskId) => this.prepare(req, meta, cluster, taskId, key),
    });
    return view(record);
  }

  /** Wakes a hibernated cluster, routes the task (circuit breaker) and builds its record and queue. */
  private async prepare(req: SubmitTaskRequest, meta: RequestMeta, found: ExistingCluster, taskId: string, key: string | undefined): Promise<PreparedTask> {
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
      );
      cluster = (await this.clusters.state(cluster.clusterId)) as ExistingCluster;
    }
    const routedTo = await this.route(cluster);
    const target =
      routedTo === cluster.clusterId
        ? cluster
        : ((await this.clusters.state(routedTo)) as ExistingCluster);
    const capability =
      req.capability && offersCapability(target, req.capability) ? req.capability : null;
    try {
      await this.queues.ensure(routedTo, capability);
    } catch (err) {
      this.logger.warn({ err, taskId }, 'task queue could not be provisioned');
      throw new UnavailableError('the task queue is unavailable; the task was not accepted', { dependency: 'jetstream' });
    }
    return {
      subject: taskSubjects.queue(routedTo, req.priority, capability),
      headers: currentTraceHeaders(),
      record: {
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
      },
    };
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
    // A budget crossed this period: `throttle` refuses the task (429 until the period ends),
    // `failover` sends it to the backup cluster as an open circuit breaker does.
    const budgets = activeBudgetActions(cluster, new Date());
    const throttled = budgets.get('throttle');
    if (throttled) {
      const ends = periodOf(throttled.period, new Date(throttled.periodStart)).to;
      throw new RateLimitedError(`cluster '${cluster.clusterId}' takes no tasks until ${ends.toISOString()}: ${describeCrossing(throttled)}`, {
        reason: 'budget_exceeded',
        scope: throttled.scope ?? 'cluster',
        cluster_id: cluster.clusterId,
        spent: throttled.spent,
        amount: throttled.amount,
        currency: throttled.currency,
        period: throttled.period,
        retry_after_s: Math.max(1, Math.ceil((ends.getTime() - Date.now()) / 1000)),
      });
    }
    const failover = budgets.has('failover');
    if (cluster.circuit !== 'open' && !failover) return cluster.clusterId;
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
    if (cluster.circuit !== 'open') {
      // Over budget with nowhere to fail over to: the cluster keeps its own tasks (the blueprint
      // requires a backup for `failover`; it may have been decommissioned since).
      this.logger.warn({ clusterId: cluster.clusterId }, 'budget failover: no usable backup cluster; the task stays on the cluster');
      return cluster.clusterId;
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

/** What callers see of a record (without the queue bookkeeping). */
function view(record: TaskRecord): TaskView {
  const { queue_seq: _seq, lineage = [], ...rest } = record;
  return { ...rest, lineage: [...lineage], usage: usageOf(lineage) };
}
