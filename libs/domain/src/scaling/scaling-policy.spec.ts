import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_SCALING_POLICY, type ScalingPolicy } from '../blueprint/blueprint.types.js';
import { decideScaling, type MetricSample, type ScalingInput, scalingStep } from './scaling-policy.js';

const NOW = Date.UTC(2026, 1, 18, 21, 0, 0);
const ago = (s: number): number => NOW - s * 1000;
/** A sample every 30 s over the last `seconds` seconds with the same load. */
const steady = (seconds: number, sample: Omit<MetricSample, 'at'>): MetricSample[] =>
  Array.from({ length: Math.floor(seconds / 30) + 1 }, (_, i) => ({ ...sample, at: ago(seconds - i * 30) }));
const base = (over: Partial<ScalingInput>): ScalingInput => ({
  policy: DEFAULT_SCALING_POLICY,
  window: [],
  current: 6,
  min: 3,
  max: 20,
  now: NOW,
  ...over,
});
const decide = (over: Partial<ScalingInput>) => decideScaling(base(over));

describe('decideScaling (seed 000 defaults)', () => {
  it('steps of 20 %, at least one worker', () => {
    expect([1, 3, 5, 6, 8, 10, 20].map((n) => scalingStep(n, 20))).toEqual([1, 1, 1, 2, 2, 2, 4]);
  });

  it('scales up when queued tasks per worker exceed 10: 6 → 8', () => {
    const d = decide({ window: steady(120, { queueDepth: 70, workers: 6, cpu: 50 }) });
    expect(d).toMatchObject({ decision: 'up', target: 8, rule: 'queue_high' });
    expect(d.reason).toContain('above 10');
    expect(d.inputs).toMatchObject({ queueDepth: 70, workers: 6, current: 6 });
  });

  it('scales up on CPU above 80 % as a second signal', () =>
    expect(decide({ window: steady(60, { queueDepth: 12, workers: 6, cpu: 91 }) })).toMatchObject({ decision: 'up', target: 8, rule: 'cpu_high' }));

  it('scales down after a calm stabilization window: 8 → 6', () =>
    expect(decide({ current: 8, window: steady(300, { queueDepth: 3, workers: 8, cpu: 10 }) })).toMatchObject({ decision: 'down', target: 6, rule: 'queue_low' }));

  it('does not scale down while CPU is busy', () =>
    expect(decide({ current: 8, window: steady(300, { queueDepth: 0, workers: 8, cpu: 55 }) })).toMatchObject({ decision: 'hold', rule: 'within_thresholds' }));

  it('respects the bounds', () => {
    expect(decide({ current: 19, window: steady(60, { queueDepth: 500, workers: 19 }) })).toMatchObject({ decision: 'up', target: 20 });
    expect(decide({ current: 20, window: steady(60, { queueDepth: 500, workers: 20 }) })).toMatchObject({ decision: 'hold', rule: 'max_workers_reached' });
    expect(decide({ current: 3, window: steady(300, { queueDepth: 0, workers: 3 }) })).toMatchObject({ decision: 'hold', rule: 'min_workers_reached' });
    expect(decide({ current: 4, window: steady(300, { queueDepth: 0, workers: 4 }) })).toMatchObject({ decision: 'down', target: 3 });
    expect(decide({ current: 2 })).toMatchObject({ decision: 'up', target: 3, rule: 'below_min' });
    expect(decide({ current: 25 })).toMatchObject({ decision: 'down', target: 20, rule: 'above_max' });
  });

  it('keeps separate cooldowns for up and down', () => {
    const high = steady(60, { queueDepth: 100, workers: 6 });
    expect(decide({ window: high, lastScaleUpAt: ago(120) })).toMatchObject({ decision: 'hold', rule: 'cooldown_up' });
    expect(decide({ window: high, lastScaleUpAt: ago(301) })).toMatchObject({ decision: 'up' });
    const low = steady(300, { queueDepth: 0, workers: 8 });
    const policy: ScalingPolicy = { ...DEFAULT_SCALING_POLICY, cooldownDownSeconds: 600 };
    expect(decide({ policy, current: 8, window: low, lastScaleDownAt: ago(400) })).toMatchObject({ decision: 'hold', rule: 'cooldown_down' });
    expect(decide({ policy, current: 8, window: low, lastScaleDownAt: ago(601) })).toMatchObject({ decision: 'down' });
  });

  it('counts the last recorded decision as a scale action', () => {
    const high = steady(60, { queueDepth: 100, workers: 6 });
    expect(decide({ window: high, lastDecision: { decision: 'up', at: ago(100) } })).toMatchObject({ decision: 'hold', rule: 'cooldown_up' });
    expect(decide({ window: high, lastDecision: { decision: 'down', at: ago(100) } })).toMatchObject({ decision: 'hold', rule: 'stabilization' });
    expect(decide({ window: high, lastDecision: { decision: 'hold', at: ago(10) } })).toMatchObject({ decision: 'up' });
  });

  it('never reverses direction inside the stabilization window', () => {
    expect(decide({ window: steady(60, { queueDepth: 100, workers: 6 }), lastScaleDownAt: ago(60) })).toMatchObject({ decision: 'hold', rule: 'stabilization' });
    expect(decide({ current: 8, window: steady(300, { queueDepth: 0, workers: 8 }), lastScaleUpAt: ago(200) })).toMatchObject({ decision: 'hold', rule: 'stabilization' });
  });

  it('scales down only to the highest recommendation of the window', () => {
    const window = [...steady(300, { queueDepth: 0, workers: 8 })];
    window[3] = { ...(window[3] as MetricSample), queueDepth: 200 };
    expect(decide({ current: 8, window })).toMatchObject({ decision: 'hold', rule: 'stabilization' });
  });

  it('waits until the metrics cover the stabilization window', () =>
    expect(decide({ current: 8, window: steady(60, { queueDepth: 0, workers: 8 }) })).toMatchObject({ decision: 'hold', rule: 'stabilization' }));

  it('holds within thresholds, without metrics, or when disabled', () => {
    expect(decide({ window: steady(60, { queueDepth: 30, workers: 6, cpu: 50 }) })).toMatchObject({ decision: 'hold', rule: 'within_thresholds', target: 6 });
    expect(decide({})).toMatchObject({ decision: 'hold', rule: 'no_metrics' });
    expect(decide({ policy: { ...DEFAULT_SCALING_POLICY, enabled: false }, window: steady(60, { queueDepth: 999, workers: 6 }) })).toMatchObject({ rule: 'scaling_disabled' });
  });

  it('hibernates when idle long enough, and wakes on the first queued task', () => {
    const policy: ScalingPolicy = { ...DEFAULT_SCALING_POLICY, hibernateWhenIdleSeconds: 600 };
    expect(decide({ policy, window: steady(900, { queueDepth: 0, workers: 6, busyWorkers: 0 }) })).toMatchObject({ decision: 'hibernate', target: 0, rule: 'idle_hibernate' });
    expect(decide({ policy, window: steady(300, { queueDepth: 0, workers: 6, busyWorkers: 0 }), idleSince: ago(700) })).toMatchObject({ decision: 'hibernate' });
    expect(decide({ policy, current: 3, window: steady(300, { queueDepth: 0, workers: 3, busyWorkers: 1 }) })).toMatchObject({ decision: 'hold' });
    expect(decide({ policy, current: 0, hibernated: true, lastTarget: 6, window: [{ at: NOW, queueDepth: 1, workers: 0 }] })).toMatchObject({ decision: 'wake', target: 6, rule: 'wake_on_task' });
    expect(decide({ policy, current: 0, hibernated: true, window: [{ at: NOW, queueDepth: 0, workers: 0 }] })).toMatchObject({ decision: 'hold', rule: 'hibernated' });
    expect(decide({ policy: { ...policy, wakeOnTask: false }, current: 0, hibernated: true, window: [{ at: NOW, queueDepth: 9, workers: 0 }] })).toMatchObject({ decision: 'hold' });
  });

  it('returns plain JSON inputs', () => {
    const d = decide({ window: steady(60, { queueDepth: 70, workers: 6 }) });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });
});

const policyArb: fc.Arbitrary<ScalingPolicy> = fc
  .record({
    down: fc.integer({ min: 0, max: 5 }),
    gap: fc.integer({ min: 1, max: 20 }),
    cpuDown: fc.integer({ min: 0, max: 50 }),
    cpuGap: fc.integer({ min: 1, max: 50 }),
    stepPercent: fc.integer({ min: 1, max: 100 }),
    cooldownUpSeconds: fc.integer({ min: 0, max: 900 }),
    cooldownDownSeconds: fc.integer({ min: 0, max: 900 }),
    stabilizationSeconds: fc.integer({ min: 0, max: 900 }),
    hibernate: fc.option(fc.integer({ min: 60, max: 3600 }), { nil: null }),
  })
  .map((p) => ({
    ...DEFAULT_SCALING_POLICY,
    queuePerWorkerDown: p.down,
    queuePerWorkerUp: p.down + p.gap,
    cpuDown: p.cpuDown,
    cpuUp: p.cpuDown + p.cpuGap,
    stepPercent: p.stepPercent,
    cooldownUpSeconds: p.cooldownUpSeconds,
    cooldownDownSeconds: p.cooldownDownSeconds,
    stabilizationSeconds: p.stabilizationSeconds,
    hibernateWhenIdleSeconds: p.hibernate,
  }));

const inputArb: fc.Arbitrary<ScalingInput> = fc
  .record({
    policy: policyArb,
    bounds: fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 40 })),
    samples: fc.array(fc.record({ ageS: fc.integer({ min: 0, max: 1800 }), queueDepth: fc.integer({ min: 0, max: 1000 }), workers: fc.integer({ min: 0, max: 40 }), cpu: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }) }), { maxLength: 20 }),
    lastUp: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
    lastDown: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
    hibernated: fc.boolean(),
  })
  .map(({ policy, bounds, samples, lastUp, lastDown, hibernated }) => {
    const [a, b, current] = bounds;
    return {
      policy,
      min: Math.min(a, b),
      max: Math.max(a, b),
      current: hibernated ? 0 : current,
      hibernated,
      window: samples.map((s) => ({ at: ago(s.ageS), queueDepth: s.queueDepth, workers: s.workers, ...(s.cpu !== undefined ? { cpu: s.cpu } : {}) })),
      lastScaleUpAt: lastUp === null ? null : ago(lastUp),
      lastScaleDownAt: lastDown === null ? null : ago(lastDown),
      now: NOW,
    };
  });

describe('decideScaling (properties)', () => {
  it('never leaves the bounds (hibernation aside)', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const d = decideScaling(input);
        if (d.decision === 'hibernate') expect(d.target).toBe(0);
        else if (d.decision === 'hold') expect(d.target).toBe(input.current);
        else {
          expect(d.target).toBeGreaterThanOrEqual(input.min);
          expect(d.target).toBeLessThanOrEqual(input.max);
        }
        if (d.decision === 'up') expect(d.target).toBeGreaterThan(input.current);
        if (d.decision === 'down') expect(d.target).toBeLessThan(input.current);
      }),
      { numRuns: 500 },
    );
  });

  it('never scales inside a cooldown (bound corrections aside)', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const d = decideScaling(input);
        const since = (t: number | string | null | undefined) => (t == null ? Infinity : NOW - Number(t));
        if (d.rule === 'queue_high' || d.rule === 'cpu_high') expect(since(input.lastScaleUpAt)).toBeGreaterThanOrEqual(input.policy.cooldownUpSeconds * 1000);
        if (d.rule === 'queue_low') expect(since(input.lastScaleDownAt)).toBeGreaterThanOrEqual(input.policy.cooldownDownSeconds * 1000);
      }),
      { numRuns: 500 },
    );
  });

  it('a sawtooth load never flips direction inside the stabilization window', () => {
    const sawtooth = fc.record({
      policy: policyArb,
      periodS: fc.integer({ min: 60, max: 1800 }),
      duty: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      peak: fc.integer({ min: 20, max: 400 }),
      trough: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(sawtooth, ({ policy, periodS, duty, peak, trough }) => {
        const p = { ...policy, hibernateWhenIdleSeconds: null };
        let current = 5;
        let lastUp: number | null = null;
        let lastDown: number | null = null;
        const history: MetricSample[] = [];
        const actions: { at: number; direction: 'up' | 'down' }[] = [];
        for (let s = 0; s <= 4 * 3600; s += 30) {
          const now = NOW + s * 1000;
          const high = (s % periodS) / periodS < duty;
          history.push({ at: now, queueDepth: high ? peak : trough, workers: current, cpu: high ? 70 : 10 });
          while (Number(history[0]?.at ?? now) < now - 1800 * 1000) history.shift();
          if (s % 60 !== 0) continue;
          const d = decideScaling({ policy: p, window: history, current, min: 1, max: 30, lastScaleUpAt: lastUp, lastScaleDownAt: lastDown, now });
          if (d.decision === 'up' || d.decision === 'down') {
            const previous = actions.at(-1);
            if (previous && previous.direction !== d.decision) {
              expect(now - previous.at).toBeGreaterThanOrEqual(p.stabilizationSeconds * 1000);
            }
            actions.push({ at: now, direction: d.decision });
            if (d.decision === 'up') lastUp = now;
            else lastDown = now;
            current = d.target;
          }
          expect(current).toBeGreaterThanOrEqual(1);
          expect(current).toBeLessThanOrEqual(30);
        }
      }),
      { numRuns: 60 },
    );
  });
});
