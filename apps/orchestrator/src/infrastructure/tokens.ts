export const EVENT_STORE = Symbol('orchestrator.event-store');
export const READ_MODELS = Symbol('orchestrator.read-models');
