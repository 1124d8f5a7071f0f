export { FENCE } from '@flotilla/platform';

/** Milliseconds since the epoch: injected, so time-based rules can be tested with a fake clock. */
export type Clock = () => number;
export const CLOCK = Symbol('orchestrator.clock');
export const systemClock: Clock = () => Date.now();
