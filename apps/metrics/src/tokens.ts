export const READ_MODELS = Symbol('metrics.read-models');
