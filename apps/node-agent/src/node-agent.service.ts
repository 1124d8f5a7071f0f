import { setTimeout as delay } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { metricsSubjects, registryRoutes, registrySubjects, type NodeView } from '@flotilla/contracts';
import { TimeoutError, UnavailableError } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, HealthService, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';
import { AssignmentFeed } from './assignments/assignment-feed.js';
import type { AssignmentBook } from './assignments/assignment-state.js';
import { LocalState } from './node/local-state.js';
import { registration } from './node/node-spec.js';
import { OsSampler } from './node/os-readings.js';
import { AgentReporter } from './reports/agent-reporter.js';
import { AgentRunner } from './runner/agent-runner.js';
import { EgressPolicy } from './runner/egress.policy.js';
import { TASK_SOURCE, type TaskSource } from './runner/task-source.js';
import { TaskStore } from '@flotilla/tasks';
import { JetStreamTaskSource } from './tasks/jetstream-task-source.js';
import { TelemetryWindow } from './tasks/telemetry.js';

const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

/**
 * The node agent's life: register the node (retrying until the registry answers), heartbeat
 * with real readings of the host and the agents it runs, learn its assignments from the log
 * (see AssignmentFeed) and keep the running agents equal to them, report every agent start and
 * stop to the orchestrator. On SIGTERM: take no new work, mark the node draining (so the
 * orchestrator starts replacements elsewhere, make-before-break), let in-flight work finish
 * within SHUTDOWN_GRACE_MS while heartbeats go on, then exit.
 */
@Injectable()
export class NodeAgentService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly controller = new AbortController();
  private readonly local: LocalState;
  private readonly reporter: AgentReporter;
  private readonly sampler: OsSampler;
  private readonly outcomes: Counter<'outcome'>;
  private nodeIdValue: string | undefined;
  private runnerValue: AgentRunner | undefined;
  private feed: AssignmentFeed | undefined;
  private lifecycle: Promise<void> = Promise.resolve();
  private heartbeats: Promise<void> = Promise.resolve();
  private registered = false;
  private caughtUp = false;
  private readonly telemetry = new TelemetryWindow();

  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly health: HealthService,
    @Optional() @Inject(TASK_SOURCE) private readonly source?: TaskSource,
  ) {
    this.local = new LocalState(config.FLOTILLA_DATA_DIR);
    this.reporter = new AgentReporter(messaging, logger, config.REQUEST_TIMEOUT_MS);
    this.sampler = new OsSampler(config.FLOTILLA_DATA_DIR);
    this.outcomes = new promClient.Counter({
      name: 'flotilla_node_agent_tasks_total',
      help: 'Tasks run by this node’s agents, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    const running = () => this.runnerValue?.size ?? 0;
    new promClient.Gauge({
      name: 'flotilla_node_agent_agents',
      help: 'Agents running on this node.',
      registers: [registry],
      collect() {
        this.set(running());
      },
    });
  }

  get nodeId(): string {
    if (!this.nodeIdValue) throw new UnavailableError('the node agent has not started yet');
    return this.nodeIdValue;
  }

  get runner(): AgentRunner {
    if (!this.runnerValue) throw new UnavailableError('the node agent has not started yet');
    return this.runnerValue;
  }

  async onApplicationBootstrap(): Promise<void> {
    const nodeId = await this.local.nodeId(this.config.NODE_ID);
    this.nodeIdValue = nodeId;
    // Tasks come from the JetStream queues unless a test provides its own source.
    const source =
      this.source ??
      new JetStreamTaskSource(
        this.messaging,
        await TaskStore.open(this.messaging, { retentionMs: this.config.TASK_RETENTION_MS, replicas: this.config.NATS_STREAM_REPLICAS }),
        nodeId,
        this.logger,
        { ackWaitMs: this.config.TASK_ACK_WAIT_MS, maxResultBytes: this.config.TASK_MAX_RESULT_BYTES },
      );
    this.runnerValue = new AgentRunner({
      nodeId,
      nodeConcurrency: this.config.NODE_TASK_CONCURRENCY,
      agentConcurrency: this.config.AGENT_TASK_CONCURRENCY,
      // Well inside the ack wait, so a long task is never redelivered while it runs.
      workingEveryMs: Math.max(100, Math.floor(this.config.TASK_ACK_WAIT_MS / 3)),
      source,
      report: (report) => void this.reporter.report(report),
      logger: this.logger,
      egress: EgressPolicy.fromConfig(this.config),
      onOutcome: (o) => {
        this.outcomes.inc({ outcome: o.ok ? 'completed' : 'failed' });
        this.telemetry.record(o);
      },
    });
    this.health.register('registry_registration', async () => {
      if (!this.registered) throw new Error(`node '${nodeId}' is not registered yet`);
    });
    this.logger.info({ nodeId, data_dir: this.local.dir }, 'node agent starting');
    // In the background: the service is up (health, metrics) while the registry may still be starting.
    this.lifecycle = this.live(this.controller.signal);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const startedAt = Date.now();
    const graceMs = this.config.SHUTDOWN_GRACE_MS;
    // Leave a margin before the platform's hard exit (grace + 2 s) for the last acks and flushes.
    const deadline = startedAt + Math.max(500, graceMs - 500);
    const runner = this.runnerValue;
    runner?.stopTaking('node agent shutting down');
    if (this.registered && this.nodeIdValue) {
      try {
        await this.messaging.request(
          registryRoutes.drainOwnNode,
          { reason: 'node agent shutting down' },
          { timeoutMs: Math.min(2000, Math.max(250, graceMs / 4)), node: this.nodeIdValue },
        );
        await this.local.markSelfDrained(this.nodeIdValue);
        this.logger.info({ nodeId: this.nodeIdValue }, 'node marked draining');
      } catch (err) {
        this.logger.warn(
          { err },
          'could not mark the node draining; its agents move once it is offline',
        );
      }
    }
    // Make-before-break: the feed keeps running, so agents replaced elsewhere are released (and
    // stopped) here; what is still assigned at the deadline moves once the node is offline.
    while (runner && runner.size > 0 && Date.now() < deadline)
      await delay(100);
    await runner?.finish(Math.max(0, deadline - Date.now()));
    await this.reporter.flush(Math.max(200, deadline - Date.now()));
    this.controller.abort();
    await Promise.allSettled([this.lifecycle, this.heartbeats]);
  }

  private async live(signal: AbortSignal): Promise<void> {
    const view = await this.register(signal);
    if (!view) return;
    this.registered = true;
    // Registered with `resume_own_drain`: the drain of our own last shutdown is undone; done with the marker.
    await this.local.clearSelfDrained(this.nodeId);
    this.heartbeats = this.beat(signal);
    this.feed = new AssignmentFeed(
      this.messaging,
      this.nodeId,
      this.local,
      {
        caughtUp: (book) => {
          this.caughtUp = true;
          this.logger.info(
            { agents: book.agents.size, last_seq: book.lastSeq },
            'assignments caught up; running them',
          );
          this.sync(book);
        },
        changed: (book) => {
          if (this.caughtUp) this.sync(book);
        },
      },
      this.logger,
    );
    await this.feed.run(signal);
  }

  private sync(book: AssignmentBook): void {
    this.runner.sync(
      book.agents,
      (agentId) => book.releaseReason(agentId),
      this.config.SHUTDOWN_GRACE_MS,
    );
  }

  /** Registers, retrying with backoff until the registry answers (it may start after us). */
  private async register(signal: AbortSignal): Promise<NodeView | undefined> {
    let backoff = 250;
    let warned = false;
    // A node this agent drained at its own last shutdown takes agents again; an operator's cordon stays.
    const resumeOwnDrain = await this.local.selfDrained(this.nodeId);
    while (!signal.aborted) {
      try {
        const view = await this.messaging.request(
          registryRoutes.registerOwnNode,
          { ...registration(this.nodeId, this.config), resume_own_drain: resumeOwnDrain },
          { timeoutMs: 3000, node: this.nodeId },
        );
        this.logger.info(
          {
            nodeId: view.id,
            status: view.status,
            zone: view.zone,
            capacity: view.capacity,
            resumed_own_drain: resumeOwnDrain,
          },
          'node registered',
        );
        return view;
      } catch (err) {
        const transient = err instanceof UnavailableError || err instanceof TimeoutError;
        if (!transient) this.logger.error({ err }, 'registration refused; retrying');
        else if (!warned)
          this.logger.warn(
            { reason: (err as Error).message },
            'registry not answering yet; retrying',
          );
        warned ||= transient;
        await sleep(transient ? backoff : 5000, signal);
        backoff = Math.min(2000, backoff * 2);
      }
    }
    return undefined;
  }

  /** Heartbeats every HEARTBEAT_INTERVAL_MS, on a fixed cadence (a slow sample does not shift the next one). */
  private async beat(signal: AbortSignal): Promise<void> {
    const interval = this.config.HEARTBEAT_INTERVAL_MS;
    let next = Date.now();
    while (!signal.aborted) {
      try {
        const r = await this.sampler.sample();
        this.messaging.publish(registrySubjects.heartbeat(this.nodeId), {
          node_id: this.nodeId,
          sent_at: new Date().toISOString(),
          cpu_percent: r.cpuPercent,
          memory_percent: r.memoryPercent,
          disk_percent: r.diskPercent,
          load_avg: r.loadAvg,
          cores: r.cores,
          agents: this.runner.statuses(),
        });
        // Telemetry for the metrics service: busy/idle and the tasks finished since the last one.
        this.messaging.publish(
          metricsSubjects.telemetry(this.nodeId),
          this.telemetry.drain(this.nodeId, interval, { cpu: r.cpuPercent, memory: r.memoryPercent }, this.runner.statuses()),
        );
      } catch (err) {
        this.logger.warn({ err }, 'heartbeat failed');
      }
      next += interval;
      await sleep(Math.max(0, next - Date.now()), signal);
      if (Date.now() - next > interval) next = Date.now();
    }
  }
}
