export * from './entities.js';
export { createReadModelOrm, migrateReadModels, openReadModels, readModelOrmConfig, withTenant, type ReadModelOrm, type ReadModelOrmOptions } from './orm.js';
export { APP_ROLE, MIGRATIONS, READONLY_ROLE, TENANT_READER_ROLE, TENANT_TABLES } from './migrations/index.js';
export { defineProjection, desiredAgentsOf, eventTime, iso, streamParts, type Projection } from './projection.js';
export { applyBatch, batches, Projector, projectorMetrics, readCheckpoint, rebuildProjection, STALE_REBUILD_MS, type BatchOutcome, type ProjectorOptions, type RebuildResult } from './projector.js';
export * from './projections/index.js';
export { EVENTS_STREAM, EVENTS_SUBJECT, EventRelay, eventSubject, POSITION_HEADER, tenantEventSubject, sequenceAfterPosition, toEventMessage, type EventMessage, type RelayOptions } from './relay.js';
