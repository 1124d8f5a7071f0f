export { createTestDatabase, sweepStaleTestDatabases, testServerUrl, type TestDatabase } from './database.js';
export { createTestNamespace, deleteNamespaceStreams, testNatsUrl, type TestNamespace } from './nats.js';
