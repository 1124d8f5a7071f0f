import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_CIRCUIT_BREAKER } from '../blueprint/blueprint.types.js';
import { type CircuitBreakerState, canPass, createCircuitBreaker, onResult } from './circuit-breaker.js';

const T = 1_000_000;
const fail = (s: CircuitBreakerState, now = T) => onResult(s, 'failure', now);

function failTimes(s: CircuitBreakerState, n: number): CircuitBreakerState {
  for (let i = 0; i < n; i++) s = fail(s).state;
  return s;
}

describe('circuit breaker', () => {
  const breaker = createCircuitBreaker(DEFAULT_CIRCUIT_BREAKER, 'core');

  it('opens after five consecutive failures, reporting the transition', () => {
    const four = failTimes(breaker, 4);
    expect(four).toMatchObject({ status: 'closed', consecutiveFailures: 4 });
    const fifth = fail(four);
    expect(fifth.state.status).toBe('open');
    expect(fifth.transition).toEqual({ from: 'closed', to: 'open', reason: '5 consecutive failures (threshold 5)' });
  });

  it('a success resets the count', () => {
    const s = onResult(failTimes(breaker, 4), 'success', T).state;
    expect(failTimes(s, 4).status).toBe('closed');
  });

  it('while open, fails fast or forwards to the backup cluster', () => {
    const open = failTimes(breaker, 5);
    expect(canPass(open, T + 1000)).toEqual({ allow: false, forwardTo: 'core', state: open });
    const noBackup = failTimes(createCircuitBreaker(DEFAULT_CIRCUIT_BREAKER), 5);
    expect(canPass(noBackup, T + 1000)).toEqual({ allow: false, state: noBackup });
    expect(onResult(open, 'success', T + 2000).state).toBe(open);
  });

  it('half-opens after the timeout, admits one probe, closes on success', () => {
    const open = failTimes(breaker, 5);
    const probe = canPass(open, T + 30_000);
    expect(probe.allow).toBe(true);
    expect(probe.transition).toMatchObject({ from: 'open', to: 'half_open' });
    expect(canPass(probe.state, T + 30_001)).toMatchObject({ allow: false, forwardTo: 'core' });
    const closed = onResult(probe.state, 'success', T + 30_500);
    expect(closed.state.status).toBe('closed');
    expect(closed.transition).toMatchObject({ from: 'half_open', to: 'closed' });
  });

  it('opens again when the probe fails', () => {
    const probe = canPass(failTimes(breaker, 5), T + 31_000);
    const again = onResult(probe.state, 'failure', T + 31_500);
    expect(again.state).toMatchObject({ status: 'open', openedAt: T + 31_500 });
    expect(again.transition).toMatchObject({ from: 'half_open', to: 'open', reason: 'a probe failed' });
  });

  it('needs every probe to succeed when several are configured', () => {
    let s = failTimes(createCircuitBreaker({ ...DEFAULT_CIRCUIT_BREAKER, halfOpenProbes: 2 }), 5);
    const first = canPass(s, T + 30_000);
    const second = canPass(first.state, T + 30_001);
    expect([first.allow, second.allow, canPass(second.state, T + 30_002).allow]).toEqual([true, true, false]);
    s = onResult(second.state, 'success', T + 30_100).state;
    expect(s.status).toBe('half_open');
    expect(onResult(s, 'success', T + 30_200).state.status).toBe('closed');
  });

  it('does not wedge when a probe result never comes back', () => {
    const probe = canPass(failTimes(breaker, 5), T + 30_000);
    expect(canPass(probe.state, T + 59_999).allow).toBe(false);
    expect(canPass(probe.state, T + 60_000).allow).toBe(true);
  });

  it('lets everything pass when disabled', () => {
    const off = createCircuitBreaker({ ...DEFAULT_CIRCUIT_BREAKER, enabled: false });
    expect(canPass(failTimes(off, 50), T).allow).toBe(true);
  });

  it('only makes legal transitions and never admits calls while open (property)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('call' as const), dt: fc.integer({ min: 0, max: 40_000 }) }),
      fc.record({ kind: fc.constantFrom('success' as const, 'failure' as const), dt: fc.integer({ min: 0, max: 5_000 }) }),
    );
    const legal = new Set(['closed>open', 'open>half_open', 'half_open>closed', 'half_open>open']);
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), fc.integer({ min: 1, max: 3 }), (steps, probes) => {
        let s = createCircuitBreaker({ ...DEFAULT_CIRCUIT_BREAKER, halfOpenProbes: probes });
        let now = T;
        for (const st of steps) {
          now += st.dt;
          const before = s;
          const r = st.kind === 'call' ? canPass(s, now) : onResult(s, st.kind, now);
          if (r.transition) {
            expect(legal.has(`${r.transition.from}>${r.transition.to}`)).toBe(true);
            expect(r.transition.from).toBe(before.status);
            expect(r.transition.to).toBe(r.state.status);
          } else {
            expect(r.state.status).toBe(before.status);
          }
          if (st.kind === 'call' && before.status === 'open' && now - before.openedAt < 30_000) expect('allow' in r && r.allow).toBe(false);
          s = r.state;
        }
      }),
      { numRuns: 300 },
    );
  });
});
