import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import type pg from 'pg';
import type { Config } from '@flotilla/config';
import { attemptOutcome, TASK_OUTCOMES_STREAM, taskSubjects, type AttemptOutcome } from '@flotilla/contracts';
import { decodeJson, ensureConsumer, ensureStream, Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, PG_POOL } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';

const NANOS = 1_000_000;
const CONSUMER = 'accounting';
/** An attempt whose agent the read models do not know yet is tried again this often, then given up. */
const UNKNOWN_AGENT_RETRY_MS = 2000;
const UNKNOWN_AGENT_MAX_DELIVERIES = 60;

/** What an outcome is checked against: its agent as the log records it. */
interface AgentOwner {
  readonly cluster_id: string;
  readonly tenant_id: string;
  readonly node_id: string | null;
}

/**
 * Accounting: every task attempt's outcome, from the FLOTILLA_TASK_OUTCOMES stream into
 * `task_attempts`, once per (task, attempt), whatever is redelivered.
 *
 * The outcome is a node's word, so it is checked: the node is the subject's (only that node's NATS
 * user may publish under it) and must be the one the attempt names; the agent must be one the log
 * gave the cluster that ran the task, and placed on that node; the tenant is that cluster's, never
 * the message's. An outcome that fails a check is dropped with a warning; one whose agent the read
 * models do not show yet (or show on another node: it may have moved) is tried again for two
 * minutes. A node is trusted for its own agents' attempts: it runs them.
 *
 * Every replica consumes from the one durable consumer (each message goes to one of them), so
 * accounting needs no leader; the insert is idempotent, so a redelivery after a crash between
 * the commit and the ack counts nothing twice.
 */
@Injectable()
export class Accounting implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly controller = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private readonly tokens: Counter<string>;
  private readonly cost: Counter<string>;
  private readonly attempts: Counter<string>;

  constructor(
    private readonly messaging: Messaging,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.tokens = new promClient.Counter({ name: 'flotilla_task_tokens_total', help: 'Model tokens used by task attempts', labelNames: ['cluster', 'direction'], registers: [registry] });
    this.cost = new promClient.Counter({ name: 'flotilla_task_token_cost_total', help: "What task attempts' tokens cost, in the cluster's pricing currency", labelNames: ['cluster'], registers: [registry] });
    this.attempts = new promClient.Counter({ name: 'flotilla_task_attempts_accounted_total', help: 'Task attempts accounted, by outcome and blueprint version', labelNames: ['cluster', 'outcome', 'blueprint_version'], registers: [registry] });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.ensure();
    this.running = this.run(this.controller.signal);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.controller.abort();
    await this.running;
  }

  /** The stream (limits retention, TASK_OUTCOMES_MAX_AGE_MS) and the shared durable consumer. */
  async ensure(): Promise<void> {
    const jsm = await this.messaging.jsm();
    const stream = this.messaging.ns.stream(TASK_OUTCOMES_STREAM);
    await ensureStream(jsm, {
      name: stream,
      subjects: [this.messaging.ns.subject(taskSubjects.attemptOutcomes)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: this.config.TASK_OUTCOMES_MAX_AGE_MS * NANOS,
      duplicate_window: 2 * 60_000 * NANOS,
      num_replicas: this.config.NATS_STREAM_REPLICAS,
    });
    await ensureConsumer(jsm, stream, {
      durable_name: CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000 * NANOS,
      max_deliver: -1,
      max_ack_pending: 10_000,
    });
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const consumer = await this.messaging.js().consumers.get(this.messaging.ns.stream(TASK_OUTCOMES_STREAM), CONSUMER);
        while (!signal.aborted) {
          const batch: JsMsg[] = [];
          const fetched = await consumer.fetch({ max_messages: 256, expires: 1000 });
          for await (const m of fetched) batch.push(m);
          if (batch.length) await this.account(batch);
        }
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err: (err as Error).message }, 'accounting: reading task outcomes failed; trying again');
        await delay(1000, undefined, { signal }).catch(() => undefined);
        await this.ensure().catch(() => undefined);
      }
    }
  }

  /** Checks a batch, writes what passes in one statement, then settles every message. */
  async account(batch: readonly JsMsg[]): Promise<void> {
    const parsed = batch.map((m) => ({ m, outcome: this.parse(m) }));
    const agentIds = [...new Set(parsed.flatMap((p) => (p.outcome ? [p.outcome.lineage.agent_id] : [])))];
    const owners = await this.owners(agentIds);
    const rows: Record<string, unknown>[] = [];
    const settle: (() => void)[] = [];
    for (const { m, outcome } of parsed) {
      if (!outcome) {
        settle.push(() => m.term());
        continue;
      }
      const owner = owners.get(outcome.lineage.agent_id);
      // Not known yet, or placed elsewhere (another node speaking for it, or it moved since and
      // the read model has not caught up with where it ran): tried again, then dropped.
      if (!owner || owner.node_id !== outcome.lineage.node_id) {
        const doubt = owner ? `an agent placed on ${owner.node_id ?? 'no node'}` : 'an agent the log does not know';
        settle.push(() => this.retryOrDrop(m, outcome, doubt));
        continue;
      }
      if (owner.cluster_id !== outcome.routed_to) {
        this.logger.warn({ taskId: outcome.task_id, agentId: outcome.lineage.agent_id, routedTo: outcome.routed_to, agentCluster: owner.cluster_id }, 'accounting: an attempt named an agent of another cluster; dropped');
        settle.push(() => m.term());
        continue;
      }
      rows.push(rowOf(outcome, owner));
      settle.push(() => m.ack());
    }
    if (rows.length) {
      const { rows: inserted } = await this.pool.query<{ cluster_id: string; outcome: string; blueprint_version: string | null; input_tokens: number | null; output_tokens: number | null; cost: string }>(
        `INSERT INTO task_attempts (task_id, attempt, cluster_id, task_cluster_id, tenant_id, agent_id, node_id, spec_hash, blueprint_version, runtime, endpoint, model,
           started_at, finished_at, duration_ms, input_tokens, output_tokens, cost, currency, outcome, error)
         SELECT task_id, attempt, cluster_id, task_cluster_id, tenant_id, agent_id, node_id, spec_hash, blueprint_version, runtime, endpoint, model,
           started_at, finished_at, duration_ms, input_tokens, output_tokens, cost, currency, outcome, error
           FROM jsonb_to_recordset($1::jsonb) AS r(task_id text, attempt int, cluster_id text, task_cluster_id text, tenant_id text, agent_id text, node_id text,
             spec_hash text, blueprint_version text, runtime text, endpoint text, model text, started_at timestamptz, finished_at timestamptz, duration_ms int,
             input_tokens int, output_tokens int, cost numeric, currency text, outcome text, error text)
         ON CONFLICT (task_id, attempt) DO NOTHING
         RETURNING cluster_id, outcome, blueprint_version, input_tokens, output_tokens, cost::text`,
        [JSON.stringify(rows)],
      );
      for (const r of inserted) {
        this.attempts.inc({ cluster: r.cluster_id, outcome: r.outcome, blueprint_version: r.blueprint_version ?? 'unknown' });
        if (r.input_tokens) this.tokens.inc({ cluster: r.cluster_id, direction: 'input' }, r.input_tokens);
        if (r.output_tokens) this.tokens.inc({ cluster: r.cluster_id, direction: 'output' }, r.output_tokens);
        if (Number(r.cost) > 0) this.cost.inc({ cluster: r.cluster_id }, Number(r.cost));
      }
    }
    for (const s of settle) s();
  }

  /** Asks for the message again in a while, or, after UNKNOWN_AGENT_MAX_DELIVERIES, drops it with a warning. */
  private retryOrDrop(m: JsMsg, outcome: AttemptOutcome, doubt: string): void {
    if (m.info.deliveryCount < UNKNOWN_AGENT_MAX_DELIVERIES) return m.nak(UNKNOWN_AGENT_RETRY_MS);
    this.logger.warn({ taskId: outcome.task_id, agentId: outcome.lineage.agent_id, nodeId: outcome.lineage.node_id }, `accounting: an attempt by ${doubt} was dropped`);
    m.term();
  }

  /** The outcome, when it is one and its node is the subject's; undefined (and a warning) when not. */
  private parse(m: JsMsg): AttemptOutcome | undefined {
    let body: unknown;
    try {
      body = decodeJson(m.data);
    } catch {
      body = undefined;
    }
    const parsed = attemptOutcome.safeParse(body);
    if (!parsed.success) {
      this.logger.warn({ subject: m.subject }, 'accounting: a malformed task outcome was dropped');
      return undefined;
    }
    // flotilla.outcomes.<node>.<cluster>.<task>, after the namespace's prefix.
    const tokens = m.subject.split('.');
    const [node, cluster, task] = tokens.slice(-3);
    const o = parsed.data;
    if (node !== o.lineage.node_id || cluster !== o.routed_to || task !== o.task_id) {
      this.logger.warn({ subject: m.subject, nodeId: o.lineage.node_id, taskId: o.task_id }, "accounting: a task outcome that does not match its subject's node, cluster or task was dropped");
      return undefined;
    }
    return o;
  }

  private async owners(agentIds: readonly string[]): Promise<Map<string, AgentOwner>> {
    if (agentIds.length === 0) return new Map();
    const { rows } = await this.pool.query<AgentOwner & { id: string }>(`SELECT id, cluster_id, tenant_id, node_id FROM cluster_agents WHERE id = ANY($1::text[])`, [agentIds]);
    return new Map(rows.map((r) => [r.id, { cluster_id: r.cluster_id, tenant_id: r.tenant_id, node_id: r.node_id }]));
  }
}

function rowOf(o: AttemptOutcome, owner: AgentOwner): Record<string, unknown> {
  const a = o.lineage;
  return {
    task_id: o.task_id,
    attempt: a.attempt,
    cluster_id: owner.cluster_id,
    task_cluster_id: o.cluster_id,
    tenant_id: owner.tenant_id,
    agent_id: a.agent_id,
    node_id: a.node_id,
    spec_hash: a.spec_hash,
    blueprint_version: a.blueprint_version,
    runtime: a.runtime,
    endpoint: a.endpoint,
    model: a.model,
    started_at: a.started_at,
    finished_at: a.finished_at,
    duration_ms: a.duration_ms,
    input_tokens: a.tokens?.input ?? null,
    output_tokens: a.tokens?.output ?? null,
    cost: a.cost,
    currency: a.currency,
    outcome: a.outcome,
    error: a.error === null ? null : a.error.slice(0, 2000),
  };
}
