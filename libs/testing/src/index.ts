export { createTestDatabase, sweepStaleTestDatabases, testServerUrl, type TestDatabase } from './database.js';
export { createTestNamespace, deleteNamespaceStreams, testNatsUrl, type TestNamespace } from './nats.js';
export { api, freePort, repoRoot, ServiceProcess, startService, TEST_ADMIN_KEY, type AppName } from './services.js';
export { startNatsCluster, startNatsServer, type PrivateNatsCluster, type PrivateNatsServer } from './nats-server.js';
export { echoBlueprint, HTTP_PORT_VARIABLE, startStack, type Stack, type StackNode, type StackOptions } from './stack.js';
export { eventually, EventuallyTimeoutError, type EventuallyOptions, type NotYet } from './eventually.js';
export { queuedTaskRecord } from './tasks.js';
