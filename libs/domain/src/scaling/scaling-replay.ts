import { DEFAULT_SCALING_POLICY, type ScalingPolicy } from '../blueprint/blueprint.types.js';
import { type Instant, toMillis } from '../time.js';
import { decideScaling, type MetricSample, type ScalingDecision, type ScalingDecisionKind } from './scaling-policy.js';

/**
 * One metrics snapshot as the autoscaler reads it: the cluster's load and the cluster's state at
 * that moment. The metrics service records each one beside the snapshot, so a replay feeds the
 * policy exactly what the autoscaler was fed.
 */
export interface ScalingReading {
  readonly at: Instant;
  readonly status: string;
  readonly target: number;
  readonly min: number;
  readonly max: number;
  /** The cluster's policy (a patch over the defaults, as the blueprint and updates left it). */
  readonly policy: Readonly<Record<string, unknown>>;
  readonly lastScaleUpAt: Instant | null;
  readonly lastScaleDownAt: Instant | null;
  /** Tasks queued plus tasks in flight. */
  readonly queueDepth: number;
  readonly workers: number;
  readonly busyWorkers: number;
  readonly errorRate: number;
  readonly cpu: number | null;
}

/** What the autoscaler remembers of one cluster between snapshots. */
export interface ScalingWindow {
  samples: MetricSample[];
  idleSince: Instant | null;
  /** Where a wake goes back to: the last non-zero target. */
  lastTarget: number;
  /** A decision carried out that the snapshots do not show yet (see autoscalerStep). */
  awaiting: { readonly target: number; readonly since: Instant } | null;
}

/** How long snapshots may go on not showing a decision before the autoscaler decides again. */
export const AWAIT_DECISION_MS = 30_000;

/** Samples kept per cluster: enough for the longest stabilization window expected. */
export const MAX_WINDOW_SAMPLES = 2_000;

export const emptyWindow = (target: number): ScalingWindow => ({ samples: [], idleSince: null, lastTarget: target, awaiting: null });

export const effectivePolicy = (recorded: Readonly<Record<string, unknown>>, patch: Readonly<Record<string, unknown>> = {}): ScalingPolicy =>
  ({ ...DEFAULT_SCALING_POLICY, ...recorded, ...patch }) as ScalingPolicy;

/**
 * The autoscaler's step for one snapshot: fold it into the window (which it changes), then decide,
 * or answer null when the cluster is not one to scale now: automatic scaling off, the cluster in
 * a transition (spawning, scaling, hibernating…), where the snapshot describes a change under way
 * and the orchestrator would refuse a command anyway, or a snapshot taken before the last
 * decision carried out shows in it (its target is still the old one: deciding on it would make the
 * same decision twice). That last wait ends when a snapshot shows the decision's target, or after
 * AWAIT_DECISION_MS (a decision the orchestrator refused never shows).
 */
export function autoscalerStep(w: ScalingWindow, r: ScalingReading, policy: ScalingPolicy): ScalingDecision | null {
  w.samples.push({ at: r.at, queueDepth: r.queueDepth, workers: r.workers, busyWorkers: r.busyWorkers, errorRate: r.errorRate, ...(r.cpu !== null ? { cpu: r.cpu } : {}) });
  if (w.samples.length > MAX_WINDOW_SAMPLES) w.samples.splice(0, w.samples.length - MAX_WINDOW_SAMPLES);
  const idle = r.queueDepth === 0 && r.busyWorkers === 0;
  w.idleSince = idle ? (w.idleSince ?? r.at) : null;
  if (r.target > 0) w.lastTarget = r.target;
  if (w.awaiting) {
    if (r.target !== w.awaiting.target && toMillis(r.at) - toMillis(w.awaiting.since) < AWAIT_DECISION_MS) return null;
    w.awaiting = null;
  }
  const hibernated = r.status === 'hibernated';
  if (!policy.enabled || (r.status !== 'active' && !hibernated)) return null;
  return decideScaling({
    policy,
    window: w.samples,
    current: r.target,
    min: r.min,
    max: r.max,
    lastScaleUpAt: r.lastScaleUpAt,
    lastScaleDownAt: r.lastScaleDownAt,
    idleSince: w.idleSince,
    hibernated,
    lastTarget: w.lastTarget,
    now: r.at,
  });
}

/**
 * After a decision is carried out (decided on the snapshot taken at `at`): the snapshots are
 * awaited to show it, and after a scale up or down the window starts again from the latest sample.
 */
export function afterScaled(w: ScalingWindow, decision: ScalingDecision, at: Instant): void {
  if (decision.decision === 'hold') return;
  w.awaiting = { target: decision.target, since: at };
  if (decision.decision === 'up' || decision.decision === 'down') w.samples = w.samples.slice(-1);
}

export interface ReplayedDecision {
  readonly at: Instant;
  readonly decision: ScalingDecisionKind;
  readonly target: number;
  readonly rule: string;
  readonly reason: string;
}

export interface ReplayTrack {
  /** The decisions that would have been carried out (holds left out). */
  readonly decisions: ReplayedDecision[];
  /** Workers at each reading under these decisions. */
  readonly workers: number[];
}

export interface ReplayResult {
  /** The recorded policy replayed: what the autoscaler decided, as far as the readings tell. */
  readonly baseline: ReplayTrack;
  readonly candidate: ReplayTrack;
  /** The index of the first reading where the candidate decided otherwise (null: never). */
  readonly divergedAt: number | null;
}

const scales = (kind: ScalingDecisionKind) => kind !== 'hold';

/**
 * Replays recorded readings (in time order) through the pure policy twice, side by side: the
 * cluster's recorded policy (the baseline) and the same policy patched by `candidate`.
 * While the two decide alike, both see the recorded cluster (its target, status and scale times
 * are what those decisions led to). From the first reading where the candidate decides otherwise,
 * it runs on its own cluster: its target is what it decided, a scale is done by the next reading
 * (status active, or hibernated), and its workers are its target. The load (queue, CPU, busy
 * workers) is the recorded one throughout: a replay cannot know how the load would have reacted.
 * Deterministic: the same readings and candidate give the same result.
 */
export function replayScaling(readings: readonly ScalingReading[], candidate: Readonly<Record<string, unknown>>): ReplayResult {
  const first = readings[0];
  const baseline: ReplayTrack = { decisions: [], workers: [] };
  const track: ReplayTrack = { decisions: [], workers: [] };
  if (!first) return { baseline, candidate: track, divergedAt: null };
  const baseWindow = emptyWindow(first.target);
  const ownWindow = emptyWindow(first.target);
  let divergedAt: number | null = null;
  let own = { target: first.target, hibernated: first.status === 'hibernated', lastScaleUpAt: first.lastScaleUpAt, lastScaleDownAt: first.lastScaleDownAt };

  readings.forEach((r, i) => {
    const b = autoscalerStep(baseWindow, r, effectivePolicy(r.policy));
    if (b && scales(b.decision)) {
      baseline.decisions.push({ at: r.at, decision: b.decision, target: b.target, rule: b.rule, reason: b.reason });
      afterScaled(baseWindow, b, r.at);
    }
    baseline.workers.push(r.workers);

    const reading: ScalingReading =
      divergedAt === null
        ? r
        : { ...r, status: own.hibernated ? 'hibernated' : 'active', target: own.target, workers: own.target, lastScaleUpAt: own.lastScaleUpAt, lastScaleDownAt: own.lastScaleDownAt };
    const c = autoscalerStep(ownWindow, reading, effectivePolicy(r.policy, candidate));
    const cScales = c !== null && scales(c.decision);
    const bScales = b !== null && scales(b.decision);
    if (divergedAt === null && (cScales !== bScales || (cScales && (c!.decision !== b!.decision || c!.target !== b!.target)))) {
      divergedAt = i;
      own = { target: r.target, hibernated: r.status === 'hibernated', lastScaleUpAt: r.lastScaleUpAt, lastScaleDownAt: r.lastScaleDownAt };
    }
    if (c && cScales) {
      track.decisions.push({ at: r.at, decision: c.decision, target: c.target, rule: c.rule, reason: c.reason });
      afterScaled(ownWindow, c, r.at);
      if (divergedAt !== null) {
        own = {
          target: c.target,
          hibernated: c.decision === 'hibernate',
          lastScaleUpAt: c.decision === 'up' || c.decision === 'wake' ? r.at : own.lastScaleUpAt,
          lastScaleDownAt: c.decision === 'down' || c.decision === 'hibernate' ? r.at : own.lastScaleDownAt,
        };
      }
    }
    track.workers.push(divergedAt === null ? r.workers : own.target);
  });
  return { baseline, candidate: track, divergedAt };
}

export interface ScalingOutcome {
  /** Scale-ups, scale-downs, hibernations and wakes. */
  readonly scaleEvents: number;
  /** Decisions that reverse the direction of the one before within FLAP_WINDOW_SECONDS. */
  readonly flaps: number;
  /** Minutes in which queued tasks per worker were above the threshold. */
  readonly minutesAboveQueueThreshold: number;
  /** Worker-minutes: what the workers cost. */
  readonly workerMinutes: number;
}

export const FLAP_WINDOW_SECONDS = 300;

const direction = (kind: ScalingDecisionKind) => (kind === 'up' || kind === 'wake' ? 1 : kind === 'down' || kind === 'hibernate' ? -1 : 0);
const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The figures of one track over the readings. A reading stands for the time until the next one
 * (the last one for the median interval); the queue threshold is the recorded policy's
 * `queuePerWorkerUp` at each reading, the same bar for every track.
 */
export function scalingOutcome(readings: readonly ScalingReading[], decisions: readonly { at: Instant; decision: ScalingDecisionKind }[], workers: readonly number[]): ScalingOutcome {
  const times = readings.map((r) => toMillis(r.at));
  const gaps = times.slice(1).map((t, i) => t - times[i]!).sort((a, b) => a - b);
  const median = gaps.length ? gaps[Math.floor(gaps.length / 2)]! : 0;
  let above = 0;
  let workerMs = 0;
  readings.forEach((r, i) => {
    const span = Math.min(i + 1 < times.length ? times[i + 1]! - times[i]! : median, median > 0 ? 2 * median : Infinity);
    const w = workers[i] ?? r.workers;
    workerMs += w * span;
    if (r.queueDepth / Math.max(1, w) > effectivePolicy(r.policy).queuePerWorkerUp) above += span;
  });
  let flaps = 0;
  const moves = decisions.filter((d) => direction(d.decision) !== 0);
  for (let i = 1; i < moves.length; i++) {
    const reversed = direction(moves[i]!.decision) === -direction(moves[i - 1]!.decision);
    if (reversed && toMillis(moves[i]!.at) - toMillis(moves[i - 1]!.at) <= FLAP_WINDOW_SECONDS * 1000) flaps++;
  }
  return { scaleEvents: moves.length, flaps, minutesAboveQueueThreshold: round1(above / 60_000), workerMinutes: round1(workerMs / 60_000) };
}
