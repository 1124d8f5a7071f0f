import type { ScalingPolicy } from '../blueprint/blueprint.types.js';
import type { JsonValue } from '../json.js';
import { type Instant, toMillis } from '../time.js';

/** One metrics snapshot of a cluster (what the metrics service records every monitoring interval). */
export interface MetricSample {
  readonly at: Instant;
  /** Tasks waiting in the cluster's queue. */
  readonly queueDepth: number;
  /** Workers running when the sample was taken. */
  readonly workers: number;
  /** Mean CPU % over the cluster's agents, when known. */
  readonly cpu?: number;
  readonly memory?: number;
  /** Workers busy with a task; with an empty queue, 0 busy means idle. */
  readonly busyWorkers?: number;
  readonly errorRate?: number;
}

export type ScalingDecisionKind = 'up' | 'down' | 'hold' | 'hibernate' | 'wake';

export interface ScalingInput {
  readonly policy: ScalingPolicy;
  /** Recent samples, any order; those older than the stabilization window only count for idleness. */
  readonly window: readonly MetricSample[];
  /** Current target worker count. */
  readonly current: number;
  readonly min: number;
  readonly max: number;
  readonly lastScaleUpAt?: Instant | null;
  readonly lastScaleDownAt?: Instant | null;
  /**
   * The last recorded decision (ScalingDecided). An up or down decision counts as a scale action
   * at its time, so a caller that lost track of the scale times still honours cooldowns.
   */
  readonly lastDecision?: { readonly decision: ScalingDecisionKind; readonly at: Instant } | null;
  /** Since when the cluster has had no queued or running task (derived from the window if omitted). */
  readonly idleSince?: Instant | null;
  /** The cluster is hibernated (0 workers): only `wake` or `hold` can come out. */
  readonly hibernated?: boolean;
  /** Where a wake goes back to (the cluster's last target). */
  readonly lastTarget?: number;
  readonly now: Instant;
}

export interface ScalingDecision {
  readonly decision: ScalingDecisionKind;
  /** Worker count to move to (equal to current for hold). */
  readonly target: number;
  /** A sentence for operators and the event log. */
  readonly reason: string;
  /** Stable code of the rule that decided, e.g. `queue_high`, `cooldown_up`. */
  readonly rule: string;
  readonly inputs: Readonly<Record<string, JsonValue>>;
}

/** At least one worker per step, `stepPercent` of the current count otherwise (seed 000: 20 %). */
export function scalingStep(current: number, stepPercent: number): number {
  return Math.max(1, Math.ceil((current * stepPercent) / 100 - 1e-9));
}

type Signal = 'up' | 'down' | 'none';

function signalOf(sample: MetricSample, policy: ScalingPolicy): { signal: Signal; queuePerWorker: number; byCpu: boolean } {
  const queuePerWorker = sample.queueDepth / Math.max(1, sample.workers);
  const cpu = sample.cpu;
  const cpuKnown = typeof cpu === 'number' && Number.isFinite(cpu);
  if (queuePerWorker > policy.queuePerWorkerUp) return { signal: 'up', queuePerWorker, byCpu: false };
  if (cpuKnown && cpu > policy.cpuUp) return { signal: 'up', queuePerWorker, byCpu: true };
  // Scale down only when both signals agree the workers are idle: a short queue with busy CPUs is not slack.
  if (queuePerWorker < policy.queuePerWorkerDown && (!cpuKnown || cpu < policy.cpuDown)) return { signal: 'down', queuePerWorker, byCpu: false };
  return { signal: 'none', queuePerWorker, byCpu: false };
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

/**
 * The autoscaler's rule as a pure function. Seed 000 is the default: more than 10 queued tasks
 * per worker → +20 %, fewer than 2 → −20 % (at least one worker either way), CPU 80 % / 30 % as
 * a second signal, separate cooldowns for up and down. Scale-down uses the highest recommendation
 * of the stabilization window (as the Kubernetes HPA does), so a sawtooth load never flaps, and no
 * decision reverses the last scaling direction inside that window.
 */
export function decideScaling(input: ScalingInput): ScalingDecision {
  const { policy, current, min, max } = input;
  const now = toMillis(input.now);
  const samples = [...input.window].map((s) => ({ s, at: toMillis(s.at, 'window.at') })).sort((a, b) => a.at - b.at);
  const latest = samples.at(-1);
  const stabilizationMs = policy.stabilizationSeconds * 1000;
  // No stabilization window: the latest sample alone (an empty window would never allow a scale-down).
  const inWindow = stabilizationMs === 0 ? samples.filter((x) => x === latest && x.at <= now) : samples.filter((x) => x.at > now - stabilizationMs && x.at <= now);
  const step = (n: number): number => scalingStep(n, policy.stepPercent);
  const recommend = (sample: MetricSample): number => {
    const { signal } = signalOf(sample, policy);
    return signal === 'up' ? current + step(current) : signal === 'down' ? current - step(current) : current;
  };
  const latestSignal = latest ? signalOf(latest.s, policy) : null;
  const windowMax = inWindow.length > 0 ? Math.max(...inWindow.map((x) => recommend(x.s))) : current;
  const inputs: Record<string, JsonValue> = {
    current,
    min,
    max,
    queueDepth: latest?.s.queueDepth ?? null,
    workers: latest?.s.workers ?? null,
    queuePerWorker: latestSignal ? Math.round(latestSignal.queuePerWorker * 1000) / 1000 : null,
    cpu: latest?.s.cpu ?? null,
    samples: samples.length,
    windowSamples: inWindow.length,
    windowMaxRecommendation: windowMax,
  };
  const hold = (rule: string, reason: string): ScalingDecision => ({ decision: 'hold', target: current, reason, rule, inputs });
  const sinceMs = (t: Instant | null | undefined): number => (t === null || t === undefined ? Infinity : now - toMillis(t));

  if (!policy.enabled) return hold('scaling_disabled', 'autoscaling is disabled for this cluster');

  if (input.hibernated) {
    if (policy.wakeOnTask && latest && latest.s.queueDepth > 0) {
      const target = clamp(Math.max(input.lastTarget ?? min, 1), min, max);
      return { decision: 'wake', target, reason: `${latest.s.queueDepth} task(s) queued while hibernated: wake up with ${target} workers`, rule: 'wake_on_task', inputs };
    }
    return hold('hibernated', 'the cluster is hibernated and nothing is queued');
  }

  if (current < min) return { decision: 'up', target: min, reason: `${current} workers is below minWorkers ${min}`, rule: 'below_min', inputs };
  if (current > max) return { decision: 'down', target: max, reason: `${current} workers is above maxWorkers ${max}`, rule: 'above_max', inputs };
  if (!latest || !latestSignal) return hold('no_metrics', 'no metrics yet: nothing to decide on');

  const last = input.lastDecision;
  const sinceLast = last ? sinceMs(last.at) : Infinity;
  const sinceUp = Math.min(sinceMs(input.lastScaleUpAt), last?.decision === 'up' || last?.decision === 'wake' ? sinceLast : Infinity);
  const sinceDown = Math.min(sinceMs(input.lastScaleDownAt), last?.decision === 'down' || last?.decision === 'hibernate' ? sinceLast : Infinity);

  // Idle long enough → hibernate (workers to 0), if the policy asks for it.
  if (policy.hibernateWhenIdleSeconds !== null && latest.s.queueDepth === 0 && (latest.s.busyWorkers ?? 0) === 0) {
    let idleFrom: number;
    if (input.idleSince !== undefined && input.idleSince !== null) {
      idleFrom = toMillis(input.idleSince, 'idleSince');
    } else {
      idleFrom = latest.at;
      for (let k = samples.length - 1; k >= 0; k--) {
        const x = samples[k] as (typeof samples)[number];
        if (x.s.queueDepth !== 0 || (x.s.busyWorkers ?? 0) !== 0) break;
        idleFrom = x.at;
      }
    }
    const idleMs = now - idleFrom;
    inputs['idleSeconds'] = seconds(idleMs);
    if (idleMs >= policy.hibernateWhenIdleSeconds * 1000) {
      if (sinceUp < stabilizationMs) return hold('stabilization', `scaled up ${seconds(sinceUp)} s ago: no hibernation inside the ${policy.stabilizationSeconds} s stabilization window`);
      return { decision: 'hibernate', target: 0, reason: `idle for ${seconds(idleMs)} s (limit ${policy.hibernateWhenIdleSeconds} s): hibernate`, rule: 'idle_hibernate', inputs };
    }
  }

  if (latestSignal.signal === 'up') {
    const why = latestSignal.byCpu
      ? `CPU at ${latest.s.cpu}% is above ${policy.cpuUp}%`
      : `${inputs['queuePerWorker']} queued tasks per worker is above ${policy.queuePerWorkerUp}`;
    if (current >= max) return hold('max_workers_reached', `${why}, but maxWorkers ${max} is reached`);
    if (sinceDown < stabilizationMs) {
      return hold('stabilization', `${why}, but the cluster scaled down ${seconds(sinceDown)} s ago (stabilization window ${policy.stabilizationSeconds} s)`);
    }
    if (sinceUp < policy.cooldownUpSeconds * 1000) {
      return hold('cooldown_up', `${why}, but the last scale-up was ${seconds(sinceUp)} s ago (cooldown ${policy.cooldownUpSeconds} s)`);
    }
    const target = Math.min(max, current + step(current));
    return { decision: 'up', target, reason: `${why}: scale up from ${current} to ${target} workers`, rule: latestSignal.byCpu ? 'cpu_high' : 'queue_high', inputs };
  }

  if (latestSignal.signal === 'down') {
    const why = `${inputs['queuePerWorker']} queued tasks per worker is below ${policy.queuePerWorkerDown}`;
    if (current <= min) return hold('min_workers_reached', `${why}, but minWorkers ${min} is reached`);
    if (sinceUp < stabilizationMs) {
      return hold('stabilization', `${why}, but the cluster scaled up ${seconds(sinceUp)} s ago (stabilization window ${policy.stabilizationSeconds} s)`);
    }
    // The window must cover the stabilization period (give or take one evaluation) and agree.
    const covered = stabilizationMs === 0 || ((inWindow[0]?.at ?? Infinity) <= now - stabilizationMs + policy.evaluationIntervalSeconds * 1000);
    if (!covered) return hold('stabilization', `${why}, but the metrics do not yet cover the ${policy.stabilizationSeconds} s stabilization window`);
    if (windowMax >= current) {
      return hold('stabilization', `${why}, but load inside the last ${policy.stabilizationSeconds} s does not allow fewer workers`);
    }
    if (sinceDown < policy.cooldownDownSeconds * 1000) {
      return hold('cooldown_down', `${why}, but the last scale-down was ${seconds(sinceDown)} s ago (cooldown ${policy.cooldownDownSeconds} s)`);
    }
    const target = Math.max(min, windowMax);
    return { decision: 'down', target, reason: `${why}: scale down from ${current} to ${target} workers`, rule: 'queue_low', inputs };
  }

  return hold('within_thresholds', `${inputs['queuePerWorker']} queued tasks per worker is within [${policy.queuePerWorkerDown}, ${policy.queuePerWorkerUp}]`);
}
