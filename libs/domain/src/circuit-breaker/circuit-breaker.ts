import type { CircuitBreakerConfig } from '../blueprint/blueprint.types.js';
import { type Instant, toMillis } from '../time.js';

export type CircuitStatusName = 'closed' | 'open' | 'half_open';

export interface CircuitSettings extends CircuitBreakerConfig {
  /** Where tasks go while the breaker is open, when the blueprint names a backup cluster. */
  readonly backupCluster: string | null;
}

interface Base {
  readonly config: CircuitSettings;
}

/**
 * The per-cluster circuit breaker, a pure state machine: closed → open after N consecutive
 * failures → half_open once `openSeconds` have passed → closed after `halfOpenProbes` successful
 * probes, or open again on a failed one.
 */
export type CircuitBreakerState =
  | (Base & { readonly status: 'closed'; readonly consecutiveFailures: number })
  | (Base & { readonly status: 'open'; readonly openedAt: number; readonly consecutiveFailures: number })
  | (Base & {
      readonly status: 'half_open';
      /** Since when the current probes are out (a lost probe result must not wedge the breaker). */
      readonly probingSince: number;
      readonly probesAdmitted: number;
      readonly probeSuccesses: number;
    });

/** A state change to record (RecordCircuitBreakerTransition) and to log. */
export interface CircuitTransition {
  readonly from: CircuitStatusName;
  readonly to: CircuitStatusName;
  readonly reason: string;
}

export function createCircuitBreaker(config: CircuitBreakerConfig, backupCluster: string | null = null): CircuitBreakerState {
  return { config: { ...config, backupCluster }, status: 'closed', consecutiveFailures: 0 };
}

export type Outcome = 'success' | 'failure';

/** Folds the outcome of one call into the breaker. Results arriving while open (late calls) change nothing. */
export function onResult(
  state: CircuitBreakerState,
  outcome: Outcome,
  now: Instant,
): { readonly state: CircuitBreakerState; readonly transition?: CircuitTransition } {
  const { config } = state;
  if (!config.enabled) return { state };
  switch (state.status) {
    case 'closed': {
      if (outcome === 'success') return { state: state.consecutiveFailures === 0 ? state : { ...state, consecutiveFailures: 0 } };
      const failures = state.consecutiveFailures + 1;
      if (failures < config.failureThreshold) return { state: { ...state, consecutiveFailures: failures } };
      return {
        state: { config, status: 'open', openedAt: toMillis(now), consecutiveFailures: failures },
        transition: { from: 'closed', to: 'open', reason: `${failures} consecutive failures (threshold ${config.failureThreshold})` },
      };
    }
    case 'open':
      return { state };
    case 'half_open': {
      if (outcome === 'failure') {
        return {
          state: { config, status: 'open', openedAt: toMillis(now), consecutiveFailures: 1 },
          transition: { from: 'half_open', to: 'open', reason: 'a probe failed' },
        };
      }
      const successes = state.probeSuccesses + 1;
      if (successes < config.halfOpenProbes) return { state: { ...state, probeSuccesses: successes } };
      return {
        state: { config, status: 'closed', consecutiveFailures: 0 },
        transition: { from: 'half_open', to: 'closed', reason: `${successes} probe(s) succeeded` },
      };
    }
  }
}

export interface PassDecision {
  /** The call may go to this cluster. */
  readonly allow: boolean;
  /** When not allowed and a backup cluster is configured: send it there instead. */
  readonly forwardTo?: string;
  readonly state: CircuitBreakerState;
  readonly transition?: CircuitTransition;
}

/** Whether a call may pass now; moves open → half_open when the timeout is over and admits probes. */
export function canPass(state: CircuitBreakerState, now: Instant): PassDecision {
  const { config } = state;
  const refuse = (s: CircuitBreakerState, transition?: CircuitTransition): PassDecision => ({
    allow: false,
    ...(config.backupCluster ? { forwardTo: config.backupCluster } : {}),
    state: s,
    ...(transition ? { transition } : {}),
  });
  if (!config.enabled) return { allow: true, state };
  switch (state.status) {
    case 'closed':
      return { allow: true, state };
    case 'open': {
      const elapsed = toMillis(now) - state.openedAt;
      if (elapsed < config.openSeconds * 1000) return refuse(state);
      // The first call after the timeout is the first probe.
      return {
        allow: true,
        state: { config, status: 'half_open', probingSince: toMillis(now), probesAdmitted: 1, probeSuccesses: 0 },
        transition: { from: 'open', to: 'half_open', reason: `open for ${Math.round(elapsed / 1000)} s (timeout ${config.openSeconds} s): probing` },
      };
    }
    case 'half_open': {
      if (state.probesAdmitted < config.halfOpenProbes) return { allow: true, state: { ...state, probesAdmitted: state.probesAdmitted + 1 } };
      // Probes whose results never came back (a crashed caller) are given up after another timeout.
      const t = toMillis(now);
      if (t - state.probingSince >= config.openSeconds * 1000) {
        return { allow: true, state: { ...state, probingSince: t, probesAdmitted: state.probeSuccesses + 1 } };
      }
      return refuse(state);
    }
  }
}
