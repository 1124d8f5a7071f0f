export { EVENT_STORE, READ_MODELS } from '@flotilla/platform';
