import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { clusterSnapshot, metricsSubjects, orchestratorRoutes, scalingReadingOf, type ClusterSnapshot } from '@flotilla/contracts';
import { afterScaled, autoscalerStep, effectivePolicy, emptyWindow, RuleViolationError, type ScalingDecision, type ScalingWindow } from '@flotilla/domain';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, SingletonLoopsRuntime } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';


/**
 * One active replica (a lease) turns every metrics snapshot into a scaling decision with the
 * domain's policy (seed 000's rule by default, CPU as a second signal, cooldowns, a
 * stabilization window, hibernate when idle, wake on work). Decisions other than "hold" go to
 * the orchestrator with their reason, inputs and this leader's term, so each is recorded on the
 * cluster's stream (ScalingDecided) and a deposed leader's late decision is refused.
 */
@Injectable()
export class Autoscaler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly windows = new Map<string, ScalingWindow>();
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
    // Each cluster's snapshots are considered one after the other, a decision carried out before
    // the next snapshot is looked at; clusters run side by side. In this order, and with no
    // snapshot skipped, a replay of the recorded snapshots (`simulate`) decides what this did.
    const chains = new Map<string, Promise<void>>();
    const sub = this.messaging.nc.subscribe(this.messaging.ns.subject(metricsSubjects.snapshots));
    signal.addEventListener('abort', () => sub.unsubscribe(), { once: true });
    for await (const msg of sub) {
      const parsed = clusterSnapshot.safeParse(decodeJson(msg.data));
      if (!parsed.success) continue;
      const s = parsed.data;
      const next = (chains.get(s.cluster_id) ?? Promise.resolve())
        .then(() => this.consider(s, term))
        .then(
          () => undefined,
          (err: unknown) => this.logger.warn({ err, clusterId: s.cluster_id }, 'scaling evaluation failed'),
        );
      chains.set(s.cluster_id, next);
      void next.then(() => {
        if (chains.get(s.cluster_id) === next) chains.delete(s.cluster_id);
      });
    }
  }

  /**
   * Folds one snapshot into the cluster's window and acts on the policy's decision: the domain's
   * autoscalerStep, the same step a replay (`simulate`) runs over the recorded snapshots.
   */
  async consider(s: ClusterSnapshot, term: number): Promise<ScalingDecision | undefined> {
    const w = this.windows.get(s.cluster_id) ?? emptyWindow(s.target_workers);
    this.windows.set(s.cluster_id, w);
    const reading = scalingReadingOf(s);
    const decision = autoscalerStep(w, reading, effectivePolicy(reading.policy));
    if (!decision) return undefined;
    if (decision.decision === 'hold') {
      this.decisions.inc({ decision: decision.decision, rule: decision.rule });
      return decision;
    }
    try {
      await this.messaging.request(
        orchestratorRoutes.applyScalingDecision,
        { cluster_id: s.cluster_id, decision: decision.decision, target: decision.target, reason: decision.reason, rule: decision.rule, inputs: decision.inputs, term },
        { identity: { actor: 'autoscaler', tenantId: s.tenant_id, role: 'service' }, timeoutMs: this.config.REQUEST_TIMEOUT_MS * 3 },
      );
      this.decisions.inc({ decision: decision.decision, rule: decision.rule });
      this.logger.info({ clusterId: s.cluster_id, decision: decision.decision, target: decision.target, rule: decision.rule }, decision.reason);
      afterScaled(w, decision, reading.at);
    } catch (err) {
      // An operator scaled by hand within the cooldown: automatic scaling holds meanwhile.
      // A budget crossed with `scale_down` holds scale-ups and wakes until its period ends.
      if (!(err instanceof RuleViolationError && (err.rule === 'manual_scale_pause' || err.rule === 'budget_exceeded'))) throw err;
      this.decisions.inc({ decision: 'hold', rule: err.rule });
      this.logger.debug({ clusterId: s.cluster_id, wanted: decision.decision }, err.message);
      return { ...decision, decision: 'hold', target: s.target_workers, rule: err.rule, reason: err.message };
    }
    return decision;
  }
}
