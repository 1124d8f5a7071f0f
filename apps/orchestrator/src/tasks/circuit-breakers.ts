import { Inject, Injectable } from '@nestjs/common';
import { taskOutcome, taskSubjects } from '@flotilla/contracts';
import {
  canPass,
  createCircuitBreaker,
  onResult,
  type CircuitBreakerState,
  type CircuitTransition,
  type ExistingCluster,
} from '@flotilla/domain';
import { Fence } from '@flotilla/leadership';
import { decodeJson, Messaging, type RequestMeta } from '@flotilla/messaging';
import { LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { FENCE } from '../reconciler/tokens.js';

const TICK_MS = 250;

/**
 * The per-cluster circuit breakers, run by one replica (a lease). It folds the outcome of every
 * task attempt executed on its own cluster (results published by node agents) into the domain's
 * breaker and records each transition on the cluster's stream; submissions on any replica read
 * the recorded status to fail fast or forward to the backup cluster. Open → half-open happens on
 * a timer; the tasks that reach the cluster while half-open are the probes.
 */
@Injectable()
export class CircuitBreakers {
  private readonly states = new Map<string, CircuitBreakerState>();

  constructor(
    private readonly messaging: Messaging,
    private readonly clusters: ClustersService,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal, term: number): Promise<void> {
    // Claim the fence at once; every transition then carries it into its append.
    await this.fence.admit('circuit-breaker', term);
    this.states.clear();
    const sub = this.messaging.nc.subscribe(this.messaging.ns.subject(taskSubjects.results));
    signal.addEventListener('abort', () => sub.unsubscribe(), { once: true });
    const timer = setInterval(
      () =>
        void this.tick(term).catch((err: unknown) =>
          this.logger.warn({ err }, 'circuit breaker tick failed'),
        ),
      TICK_MS,
    );
    try {
      for await (const msg of sub) {
        const parsed = taskOutcome.safeParse(decodeJson(msg.data));
        if (!parsed.success) continue;
        const o = parsed.data;
        // Tasks forwarded to a backup say nothing about the health of their own cluster.
        if (o.routed_to !== o.cluster_id) continue;
        try {
          const state = await this.stateOf(o.cluster_id);
          if (!state) continue;
          const next = onResult(state, o.outcome === 'completed' ? 'success' : 'failure', o.at);
          this.states.set(o.cluster_id, next.state);
          if (next.transition) await this.record(o.cluster_id, next.transition, term);
        } catch (err) {
          this.logger.warn(
            { err, clusterId: o.cluster_id },
            'could not apply a task outcome to the circuit breaker',
          );
        }
      }
    } finally {
      clearInterval(timer);
    }
  }

  private async tick(term: number): Promise<void> {
    const now = new Date().toISOString();
    for (const [clusterId, state] of this.states) {
      if (state.status !== 'open') continue;
      const decision = canPass(state, now);
      if (decision.transition) {
        this.states.set(clusterId, decision.state);
        await this.record(clusterId, decision.transition, term);
      }
    }
  }

  /** The breaker of a cluster, seeded from the status its stream records (e.g. after a failover). */
  private async stateOf(clusterId: string): Promise<CircuitBreakerState | undefined> {
    const known = this.states.get(clusterId);
    if (known) return known;
    const cluster = await this.clusters.state(clusterId);
    if (cluster.status === 'none') return undefined;
    const fresh = createCircuitBreaker(
      cluster.blueprint.cluster.circuitBreaker,
      cluster.backupCluster,
    );
    const state: CircuitBreakerState =
      cluster.circuit === 'open'
        ? {
            config: fresh.config,
            status: 'open',
            openedAt: Date.now(),
            consecutiveFailures: fresh.config.failureThreshold,
          }
        : cluster.circuit === 'half_open'
          ? {
              config: fresh.config,
              status: 'half_open',
              probingSince: Date.now(),
              probesAdmitted: 0,
              probeSuccesses: 0,
            }
          : fresh;
    this.states.set(clusterId, state);
    return state;
  }

  private async record(clusterId: string, t: CircuitTransition, term: number): Promise<void> {
    const cluster = (await this.clusters.state(clusterId)) as ExistingCluster;
    const meta: RequestMeta = {
      subject: 'circuit-breaker',
      identity: { actor: 'circuit-breaker', tenantId: cluster.tenantId, role: 'service' },
      correlationId: undefined,
      idempotencyKey: undefined,
      traceparent: undefined,
    };
    this.logger.info({ clusterId, ...t }, 'circuit breaker transition');
    await this.clusters.command(
      clusterId,
      {
        type: 'RecordCircuitBreakerTransition',
        data: { from: t.from, to: t.to, reason: t.reason },
        metadata: { now: new Date().toISOString() },
      },
      meta,
      // Refused in the append's own transaction once a newer breaker leader has written.
      { fence: { role: 'circuit-breaker', term } },
    );
  }
}
