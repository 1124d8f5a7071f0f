export const READ_MODELS = Symbol('metrics.read-models');
export const EVENT_STORE = Symbol('metrics.event-store');
