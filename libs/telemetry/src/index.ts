export {
  activeTraceIds,
  contextFromHeaders,
  currentTraceHeaders,
  currentTraceparent,
  startTracing,
  tracer,
  withSpan,
  type Tracing,
  type TracingOptions,
} from './tracing.js';
export { createLogger, PinoNestLogger, REDACTED_PATHS, type Logger, type LoggerOptions } from './logger.js';
export { createMetricsRegistry, PROMETHEUS_CONTENT_TYPE, promClient, type Counter, type Gauge, type Histogram, type Registry } from './metrics.js';
