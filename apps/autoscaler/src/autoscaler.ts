import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { clusterSnapshot, metricsSubjects, orchestratorRoutes, type ClusterSnapshot } from '@flotilla/contracts';
import { decideScaling, DEFAULT_SCALING_POLICY, RuleViolationError, type MetricSample, type ScalingDecision, type ScalingPolicy } from '@flotilla/domain';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, SingletonLoopsRuntime } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';

/** Samples kept per cluster: enough for the longest stabilization window we expect. */
const MAX_SAMPLES = 2_000;

interface ClusterWindow {
  samples: MetricSample[];
  idleSince: string | null;
  lastTarget: number;
  /** A decision in flight for this cluster: the next snapshot waits for its answer. */
  inFlight: boolean;
}

/**
 * One active replica (a lease) turns every metrics snapshot into a scaling decision with the
 * domain's policy (seed 000's rule by default, CPU as a second signal, cooldowns, a
 * stabilization window, hibernate when idle, wake on work). Decisions other than "hold" go to
 * the orchestrator with their reason, inputs and this leader's term, so each is recorded on the
 * cluster's stream (ScalingDecided) and a deposed leader's late decision is refused.
 */
@Injectable()
export class Autoscaler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly windows = new Map<string, ClusterWindow>();
  private readonly decisions: Counter<string>;

  constructor(
    private readonly messaging: Messaging,
    private readonly runtime: SingletonLoopsRuntime,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.decisions = new promClient.Counter({ name: 'flotilla_autoscaler_decisions_total', help: 'Scaling decisions by kind and rule', labelNames: ['decision', 'rule'], registers: [registry] });
  }

  async onApplicationBootstrap(): Promise<void> {
    // No PostgreSQL here: the lease epoch is set by the services that have it.
    await this.runtime.start({ autoscaler: (signal, term) => this.lead(signal, term) });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }

  private async lead(signal: AbortSignal, term: number): Promise<void> {
    this.windows.clear();
    const sub = this.messaging.nc.subscribe(this.messaging.ns.subject(metricsSubjects.snapshots));
    signal.addEventListener('abort', () => sub.unsubscribe(), { once: true });
    for await (const msg of sub) {
      const parsed = clusterSnapshot.safeParse(decodeJson(msg.data));
      if (!parsed.success) continue;
      void this.consider(parsed.data, term).catch((err: unknown) => this.logger.warn({ err, clusterId: parsed.data.cluster_id }, 'scaling evaluation failed'));
    }
  }

  /** Folds one snapshot into the cluster's window and acts on the policy's decision. */
  async consider(s: ClusterSnapshot, term: number): Promise<ScalingDecision | undefined> {
    const w = this.windows.get(s.cluster_id) ?? { samples: [], idleSince: null, lastTarget: s.target_workers, inFlight: false };
    this.windows.set(s.cluster_id, w);
    const busy = s.agents.busy;
    w.samples.push({ at: s.at, queueDepth: s.queue.total + s.queue.in_flight, workers: s.workers, busyWorkers: busy, errorRate: s.error_rate, ...(s.cpu_percent !== null ? { cpu: s.cpu_percent } : {}) });
    if (w.samples.length > MAX_SAMPLES) w.samples.splice(0, w.samples.length - MAX_SAMPLES);
    const idle = s.queue.total === 0 && s.queue.in_flight === 0 && busy === 0;
    w.idleSince = idle ? (w.idleSince ?? s.at) : null;
    if (s.target_workers > 0) w.lastTarget = s.target_workers;

    const policy: ScalingPolicy = { ...DEFAULT_SCALING_POLICY, ...(s.policy as Partial<ScalingPolicy>) };
    if (!policy.enabled || w.inFlight) return undefined;
    // Only a settled cluster is scaled: while agents are spawning or a scale is under way, the
    // snapshot describes a transition, and the orchestrator would refuse the command anyway.
    const hibernated = s.status === 'hibernated';
    if (s.status !== 'active' && !hibernated) return undefined;
    const decision = decideScaling({
      policy,
      window: w.samples,
      current: s.target_workers,
      min: s.min_workers,
      max: s.max_workers,
      lastScaleUpAt: s.last_scale_up_at,
      lastScaleDownAt: s.last_scale_down_at,
      idleSince: w.idleSince,
      hibernated,
      lastTarget: w.lastTarget,
      now: s.at,
    });
    if (decision.decision === 'hold') {
      this.decisions.inc({ decision: decision.decision, rule: decision.rule });
      return decision;
    }
    w.inFlight = true;
    try {
      await this.messaging.request(
        orchestratorRoutes.applyScalingDecision,
        { cluster_id: s.cluster_id, decision: decision.decision, target: decision.target, reason: decision.reason, rule: decision.rule, inputs: decision.inputs, term },
        { identity: { actor: 'autoscaler', tenantId: s.tenant_id, role: 'service' }, timeoutMs: this.config.REQUEST_TIMEOUT_MS * 3 },
      );
      this.decisions.inc({ decision: decision.decision, rule: decision.rule });
      this.logger.info({ clusterId: s.cluster_id, decision: decision.decision, target: decision.target, rule: decision.rule }, decision.reason);
      if (decision.decision === 'up' || decision.decision === 'down') w.samples = w.samples.slice(-1);
    } catch (err) {
      // An operator scaled by hand within the cooldown: automatic scaling holds meanwhile.
      if (!(err instanceof RuleViolationError && err.rule === 'manual_scale_pause')) throw err;
      this.decisions.inc({ decision: 'hold', rule: 'manual_scale_pause' });
      this.logger.debug({ clusterId: s.cluster_id, wanted: decision.decision }, err.message);
      return { ...decision, decision: 'hold', target: s.target_workers, rule: 'manual_scale_pause', reason: err.message };
    } finally {
      w.inFlight = false;
    }
    return decision;
  }
}
