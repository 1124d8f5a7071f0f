import {
  context,
  propagation,
  type Context,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TracingOptions {
  readonly serviceName: string;
  readonly instanceId: string;
  readonly version?: string;
  /** Export over OTLP/HTTP to `${endpoint}/v1/traces`. */
  readonly otlp?: { readonly enabled: boolean; readonly endpoint: string };
  /** Extra exporter, e.g. an InMemorySpanExporter in tests (exported synchronously). */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  readonly provider: TracerProvider;
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/**
 * Starts tracing for the process. Call it first in main(), before Nest and the NATS client
 * exist. A provider, an AsyncLocalStorage context manager and the W3C propagator are always
 * installed, so trace ids reach logs and NATS headers even when nothing is exported (spans are
 * then not recorded, only propagated).
 */
export function startTracing(options: TracingOptions): Tracing {
  if (active) return active;
  const processors: SpanProcessor[] = [];
  if (options.exporter) processors.push(new SimpleSpanProcessor({ exporter: options.exporter }));
  if (options.otlp?.enabled) {
    const url = `${options.otlp.endpoint.replace(/\/$/, '')}/v1/traces`;
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: 500 }));
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: options.version ?? '0.1.0',
      'service.instance.id': options.instanceId,
    }),
    spanProcessors: processors,
    // With nowhere to send spans, none is recorded: spans still get ids and propagate (logs and
    // NATS headers carry them), but no span object, attribute copy or processor call is paid for.
    ...(processors.length === 0 ? { sampler: new AlwaysOffSampler() } : {}),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  active = {
    provider,
    shutdown: async () => {
      await provider.forceFlush().catch(() => undefined);
      await provider.shutdown().catch(() => undefined);
    },
  };
  return active;
}

export function tracer(name = 'flotilla'): Tracer {
  return trace.getTracer(name);
}

/** Runs `fn` inside a new active span; records exceptions and ends the span either way. */
export async function withSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** W3C trace headers (`traceparent`, `tracestate`, `baggage`) of the active context. */
export function currentTraceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The active `traceparent`, for event metadata; null outside a sampled span. */
export function currentTraceparent(): string | null {
  return currentTraceHeaders()['traceparent'] ?? null;
}

export function contextFromHeaders(headers: Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), headers, {
    keys: (c) => Object.keys(c),
    get: (c, k) => c[k] ?? undefined,
  });
}

export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  const sc = span?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return { trace_id: sc.traceId, span_id: sc.spanId };
}
