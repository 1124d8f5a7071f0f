export const FENCE = Symbol('orchestrator.fence');
