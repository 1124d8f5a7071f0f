export const EVENT_STORE = Symbol('registry.event-store');
export const READ_MODELS = Symbol('registry.read-models');
export { FENCE } from '@flotilla/platform';
