export { EVENT_STORE, FENCE, READ_MODELS } from '@flotilla/platform';
