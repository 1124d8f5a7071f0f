export { createTestDatabase, sweepStaleTestDatabases, testServerUrl, type TestDatabase } from './database.js';
export { createTestNamespace, deleteNamespaceStreams, testNatsUrl, type TestNamespace } from './nats.js';
export { freePort, repoRoot, ServiceProcess, startService, type AppName } from './services.js';
