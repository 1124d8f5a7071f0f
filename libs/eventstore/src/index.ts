export type {
  AppendFence,
  AppendOptions,
  AppendResult,
  EventMetadata,
  EventStore,
  EventSubscription,
  ExpectedRevision,
  HeadOptions,
  NewEvent,
  ReadAllOptions,
  ReadDirection,
  ReadStreamOptions,
  StoredEvent,
  SubscribeToAllOptions,
  Upcaster,
  Upcasters,
} from './event-store.port.js';
export {
  concurrencyError,
  formatRevision,
  satisfiesExpectedRevision,
} from './expected-revision.js';
export { upcast } from './upcasting.js';
export { categoryOf, isCategory, pagesOf } from './categories.js';
export {
  createEventStore,
  eventStoreConfigFromEnv,
  type EventStoreConfig,
  type EventStoreFactoryOptions,
} from './event-store.factory.js';
export {
  PostgresEventStore,
  DEFAULT_SCHEMA,
  eventStorePool,
  type PostgresEventStoreOptions,
} from './postgres/postgres.event-store.js';
export { decodePosition, encodePosition, MAX_EVENTS_PER_APPEND } from './postgres/position.js';
export {
  EventStoreDbEventStore,
  type EventStoreDbEventStoreOptions,
} from './eventstoredb/eventstoredb.event-store.js';
export { instrumentEventStore } from './instrumented.js';
export { withFenceGuard } from './fence-guard.js';
