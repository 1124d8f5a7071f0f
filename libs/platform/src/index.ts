export { runService, VERSION, type ServiceDefinition } from './bootstrap.js';
export { HealthService, timedCheck, type Check } from './health.service.js';
export { ServiceHealthController } from './health.controller.js';
export { InjectConfig, InjectLogger, InjectPgPool, PlatformModule, type PlatformDeps, type PlatformOptions } from './platform.module.js';
export { createPgPool } from './postgres.js';
export { CONFIG, LOGGER, METRICS_REGISTRY, PG_POOL, SERVICE_INFO, type ServiceInfo } from './tokens.js';
export { asFlotillaError, FlotillaExceptionFilter, HTTP_STATUS, httpErrorOf, type HttpError } from './exception.filter.js';
export { countDbErrors, countNatsErrors, measureNatsRequests } from './service-metrics.js';
export { FENCE, fenceProvider, SingletonLoopsRuntime } from './singletons.js';
