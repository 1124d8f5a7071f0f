import { describe, expect, it } from '@jest/globals';
import { replayScaling, scalingOutcome, type ScalingReading } from './scaling-replay.js';

const POLICY = { enabled: true, queuePerWorkerUp: 3, queuePerWorkerDown: 1, cpuUp: 101, cpuDown: 100, stepPercent: 1, cooldownUpSeconds: 5, cooldownDownSeconds: 5, stabilizationSeconds: 0, evaluationIntervalSeconds: 1, hibernateWhenIdleSeconds: null };
const T0 = Date.parse('2026-12-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/**
 * Readings as the recorded cluster lived them: a queue of 12 tasks for 30 s, then none, with a
 * cluster that follows the baseline's decisions one reading later (as the real one does).
 */
function recordedRun(): ScalingReading[] {
  const readings: ScalingReading[] = [];
  let target = 1;
  let lastUp: string | null = null;
  let lastDown: string | null = null;
  let pending: { target: number; up: boolean } | null = null;
  for (let s = 0; s < 60; s++) {
    if (pending) {
      target = pending.target;
      if (pending.up) lastUp = at(s - 1);
      else lastDown = at(s - 1);
      pending = null;
    }
    const queue = s < 30 ? 12 : 0;
    const r: ScalingReading = { at: at(s), status: 'active', target, min: 1, max: 4, policy: POLICY, lastScaleUpAt: lastUp, lastScaleDownAt: lastDown, queueDepth: queue, workers: target, busyWorkers: queue ? target : 0, errorRate: 0, cpu: null };
    readings.push(r);
    // What the autoscaler would decide on this reading (the recorded policy, replayed alone).
    const step = replayScaling(readings, {}).baseline.decisions.find((d) => d.at === r.at);
    if (step) pending = { target: step.target, up: step.decision === 'up' };
  }
  return readings;
}

describe('replayScaling: a scaling policy over recorded load', () => {
  const readings = recordedRun();

  it('the recorded policy replayed is the baseline: the candidate with no change decides the same, never diverging', () => {
    const r = replayScaling(readings, {});
    expect(r.divergedAt).toBeNull();
    expect(r.candidate.decisions).toEqual(r.baseline.decisions);
    expect(r.baseline.decisions.map((d) => [d.decision, d.target])).toEqual([
      ['up', 2],
      ['up', 3],
      ['up', 4],
      ['down', 3],
      ['down', 2],
      ['down', 1],
    ]);
  });

  it('a stricter cooldown scales fewer times and spends more minutes above the queue threshold', () => {
    const r = replayScaling(readings, { cooldownUpSeconds: 3600, cooldownDownSeconds: 3600 });
    expect(r.divergedAt).not.toBeNull();
    expect(r.candidate.decisions.map((d) => [d.decision, d.target])).toEqual([
      ['up', 2],
      ['down', 1],
    ]);
    const base = scalingOutcome(readings, r.baseline.decisions, r.baseline.workers);
    const strict = scalingOutcome(readings, r.candidate.decisions, r.candidate.workers);
    expect(strict.scaleEvents).toBeLessThan(base.scaleEvents);
    expect(strict.minutesAboveQueueThreshold).toBeGreaterThan(base.minutesAboveQueueThreshold);
    expect(strict.workerMinutes).toBeLessThan(base.workerMinutes);
  });

  it('is deterministic: the same readings and candidate give the same answer', () => {
    expect(replayScaling(readings, { queuePerWorkerUp: 5 })).toEqual(replayScaling(readings, { queuePerWorkerUp: 5 }));
  });

  it('counts a reversal of direction within five minutes as a flap', () => {
    const d = (s: number, decision: 'up' | 'down') => ({ at: at(s), decision });
    expect(scalingOutcome(readings, [d(0, 'up'), d(10, 'down'), d(20, 'up'), d(400, 'up'), d(1000, 'down')], readings.map((r) => r.workers)).flaps).toBe(2);
  });
});
