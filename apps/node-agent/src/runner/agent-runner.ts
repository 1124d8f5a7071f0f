import { toFlotillaError } from '@flotilla/domain';
import type { Logger } from '@flotilla/telemetry';
import type { AssignedAgent } from '../assignments/assignment-state.js';
import type { AgentReport } from '../reports/agent-reporter.js';
import { AgentWorker, Slots, type TaskOutcome } from './agent-worker.js';
import { EgressPolicy } from './egress.policy.js';
import { createRuntime, parseResolvedRuntime } from './runtime.factory.js';
import type { TaskSource } from './task-source.js';

export interface RunnerOptions {
  readonly nodeId: string;
  readonly nodeConcurrency: number;
  readonly agentConcurrency: number;
  /** How often a running task tells its source it is still being worked on. */
  readonly workingEveryMs?: number;
  readonly source?: TaskSource | undefined;
  readonly report: (report: AgentReport) => void;
  readonly logger: Logger;
  readonly onOutcome?: (outcome: TaskOutcome) => void;
  readonly env?: NodeJS.ProcessEnv;
  /** Where the http and openai runtimes may connect (default: the built-in denials only). */
  readonly egress?: EgressPolicy;
}

/** An agent as the heartbeat reports it. */
export interface AgentStatus {
  readonly agent_id: string;
  readonly cluster_id: string;
  readonly state: string;
  readonly role: string;
}

/**
 * The agents running on this node, as in-process workers. `sync` makes the running set equal
 * to the assigned set (what the log says): it starts what is assigned and not running, and stops
 * what runs and is no longer assigned. Every start and stop is reported to the orchestrator.
 */
export class AgentRunner {
  private readonly workers = new Map<string, AgentWorker>();
  private readonly stopping = new Map<string, Promise<void>>();
  /** Assigned agents this node could not run: reported failed once, not retried while still assigned. */
  private readonly unrunnable = new Set<string>();
  private readonly slots: Slots;
  private accepting = true;

  private readonly egress: EgressPolicy;

  constructor(private readonly options: RunnerOptions) {
    this.slots = new Slots(options.nodeConcurrency);
    this.egress = options.egress ?? new EgressPolicy({});
  }

  get size(): number {
    return this.workers.size;
  }

  has(agentId: string): boolean {
    return this.workers.has(agentId);
  }

  statuses(): AgentStatus[] {
    const out: AgentStatus[] = [];
    for (const w of this.workers.values())
      out.push({ agent_id: w.agentId, cluster_id: w.clusterId, state: w.state, role: w.spec.role });
    return out;
  }

  get inFlight(): number {
    let n = 0;
    for (const w of this.workers.values()) n += w.inFlight;
    return n;
  }

  /** Starts an assigned agent (once); reports started, or failed with the reason it cannot run. */
  start(agent: AssignedAgent): void {
    if (this.workers.has(agent.agentId) || this.unrunnable.has(agent.agentId) || !this.accepting)
      return;
    const { nodeId, report, logger } = this.options;
    const base = { clusterId: agent.clusterId, agentId: agent.agentId, nodeId };
    if (!agent.spec) {
      this.unrunnable.add(agent.agentId);
      report({
        ...base,
        state: 'failed',
        reason: 'the assignment carries no agent spec (name, role, runtime)',
      });
      return;
    }
    let worker: AgentWorker;
    try {
      const runtime = createRuntime(
        parseResolvedRuntime(agent.spec.runtime),
        this.egress.forTenant(agent.tenantId),
        this.options.env,
      );
      worker = new AgentWorker({
        agentId: agent.agentId,
        clusterId: agent.clusterId,
        spec: agent.spec,
        runtime,
        concurrency: this.options.agentConcurrency,
        nodeSlots: this.slots,
        ...(this.options.workingEveryMs ? { workingEveryMs: this.options.workingEveryMs } : {}),
        source: this.options.source,
        ...(this.options.onOutcome ? { onOutcome: this.options.onOutcome } : {}),
        onError: (err) => logger.warn({ err, agentId: agent.agentId }, 'task source error'),
      });
    } catch (err) {
      const error = toFlotillaError(err);
      logger.warn({ err: error, agentId: agent.agentId }, 'agent cannot run on this node');
      this.unrunnable.add(agent.agentId);
      report({ ...base, state: 'failed', reason: error.message });
      return;
    }
    this.workers.set(agent.agentId, worker);
    worker.start();
    logger.info(
      {
        agentId: agent.agentId,
        clusterId: agent.clusterId,
        name: agent.spec.name,
        runtime: agent.spec.runtime.kind,
      },
      'agent started',
    );
    report({ ...base, state: 'started' });
  }

  /** Stops an agent released from this node (finishing its in-flight tasks within `graceMs`), then reports it stopped. */
  stop(agentId: string, reason: string, graceMs: number): Promise<void> {
    const worker = this.workers.get(agentId);
    if (!worker) return this.stopping.get(agentId) ?? Promise.resolve();
    this.workers.delete(agentId);
    const done = worker.stop(reason, graceMs).then(() => {
      this.options.source?.forget?.(agentId);
      this.options.logger.info({ agentId, reason }, 'agent stopped');
      this.options.report({
        clusterId: worker.clusterId,
        agentId,
        nodeId: this.options.nodeId,
        state: 'stopped',
        reason,
      });
    });
    this.stopping.set(agentId, done);
    void done.finally(() => this.stopping.delete(agentId));
    return done;
  }

  /** Makes the running set the assigned set. */
  sync(
    assigned: ReadonlyMap<string, AssignedAgent>,
    releaseReason: (agentId: string) => string,
    graceMs: number,
  ): void {
    for (const agentId of [...this.unrunnable])
      if (!assigned.has(agentId)) this.unrunnable.delete(agentId);
    for (const agentId of [...this.workers.keys()]) {
      if (!assigned.has(agentId)) void this.stop(agentId, releaseReason(agentId), graceMs);
    }
    for (const agent of assigned.values()) this.start(agent);
  }

  /** Shutdown, step 1: no agent takes new work (and no new agent starts). */
  stopTaking(reason: string): void {
    this.accepting = false;
    for (const w of this.workers.values()) w.stopIntake(reason);
  }

  /**
   * Shutdown, step 2: waits for tasks in flight, up to `graceMs`; what is still running then is
   * aborted and nak'ed for redelivery. The agents are not reported stopped: the node is being
   * drained, and the orchestrator moves them (or re-places them once the node is offline).
   */
  async finish(graceMs: number): Promise<void> {
    await Promise.all(
      [...this.workers.values()].map((w) => w.stop('node agent shutting down', graceMs)),
    );
    await Promise.allSettled([...this.stopping.values()]);
  }
}
