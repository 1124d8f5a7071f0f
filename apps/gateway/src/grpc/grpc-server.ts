import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import type { Config } from '@flotilla/config';
import { asFlotillaError, CONFIG, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { Messaging } from '@flotilla/messaging';
import { ValidationError, type ErrorCode } from '@flotilla/domain';
import { contextFromHeaders, promClient, withSpan, type Logger, type Registry } from '@flotilla/telemetry';
import { EventFeed } from '../events/event-feed.service.js';
import { WatcherLimits } from '../events/watcher-limits.js';
import { spansAllTenants } from '@flotilla/contracts';
import { authorize } from '../auth/access-policy.js';
import { Authenticator, type Caller } from '../auth/authenticator.js';
import { RateLimiter } from '../auth/rate-limiter.js';
import type { Access } from '@flotilla/contracts';
import { GRPC_METHODS, type GrpcMethod } from './grpc-methods.js';
import { toStruct } from './struct.js';

/** The one place error codes become gRPC statuses. */
export const GRPC_STATUS: Readonly<Record<ErrorCode, grpc.status>> = {
  validation_failed: grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  already_exists: grpc.status.ALREADY_EXISTS,
  concurrency_conflict: grpc.status.ABORTED,
  conflict: grpc.status.FAILED_PRECONDITION,
  rule_violated: grpc.status.FAILED_PRECONDITION,
  payload_too_large: grpc.status.RESOURCE_EXHAUSTED,
  rate_limited: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
  timeout: grpc.status.UNAVAILABLE,
  internal: grpc.status.INTERNAL,
};

export function protoRoot(): string {
  // libs/contracts/proto, found through the package so it works from sources, dist and images.
  const entry = fileURLToPath(import.meta.resolve('@flotilla/contracts'));
  return path.resolve(path.dirname(entry), '..', 'proto');
}

export function loadFlotillaProto(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(path.join(protoRoot(), 'flotilla', 'v1', 'flotilla.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [protoRoot()],
  });
  return grpc.loadPackageDefinition(definition);
}

export function grpcError(err: unknown): grpc.ServiceError {
  const e = asFlotillaError(err);
  const metadata = new grpc.Metadata();
  metadata.set('flotilla-error-code', e.code);
  metadata.set('flotilla-error-details', JSON.stringify(e.code === 'internal' ? {} : e.details));
  return Object.assign(new Error(e.code === 'internal' ? 'internal error' : e.message), {
    code: GRPC_STATUS[e.code] ?? grpc.status.INTERNAL,
    details: e.code === 'internal' ? 'internal error' : e.message,
    metadata,
  }) as grpc.ServiceError;
}

const metaValue = (md: grpc.Metadata, key: string) => {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : v?.toString();
};

/**
 * gRPC (package flotilla.v1) on GATEWAY_GRPC_PORT: the same operations as REST, forwarded over
 * the same NATS routes, plus the server-streaming WatchEvents.
 */
@Injectable()
export class GrpcGateway implements BeforeApplicationShutdown {
  private server: grpc.Server | undefined;
  private readonly watchers = new Set<AbortController>();

  constructor(
    private readonly messaging: Messaging,
    private readonly feed: EventFeed,
    private readonly watcherLimits: WatcherLimits,
    private readonly auth: Authenticator,
    private readonly limiter: RateLimiter,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.durations = new promClient.Histogram({
      name: 'flotilla_grpc_request_duration_seconds',
      help: 'gRPC calls by method and status code, and how long each took.',
      labelNames: ['method', 'code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  private readonly durations: InstanceType<typeof promClient.Histogram<'method' | 'code'>>;

  async start(): Promise<number> {
    const pkg = loadFlotillaProto() as unknown as { flotilla: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const server = new grpc.Server();
    const byService = new Map<string, Record<string, grpc.UntypedHandleCall>>();
    for (const method of GRPC_METHODS) {
      const [service, name] = method.name.split('.') as [string, string];
      const handlers = byService.get(service) ?? {};
      handlers[name] = this.unary(method);
      byService.set(service, handlers);
    }
    byService.set('EventService', { WatchEvents: this.watchEvents.bind(this) as grpc.UntypedHandleCall });
    for (const [service, handlers] of byService) server.addService(pkg.flotilla.v1[service]!.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${this.config.HTTP_HOST}:${this.config.GATEWAY_GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    return port;
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const w of this.watchers) w.abort();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => (server.forceShutdown(), resolve()), this.config.SHUTDOWN_GRACE_MS).unref();
      server.tryShutdown(() => (clearTimeout(force), resolve()));
    });
  }

  private async admit(call: { metadata: grpc.Metadata; getPeer(): string }, access: Access, operation: string): Promise<Caller> {
    const caller = await this.auth.authenticate({ authorization: metaValue(call.metadata, 'authorization'), apiKey: metaValue(call.metadata, 'x-api-key'), actAsTenant: metaValue(call.metadata, 'x-flotilla-tenant') }, call.getPeer());
    try {
      authorize(caller, access, operation);
    } catch (err) {
      this.auth.failures.inc({ reason: 'forbidden' });
      this.logger.warn({ actor: caller.actor, operation }, 'authorization refused');
      throw err;
    }
    this.limiter.take(caller.principal);
    return caller;
  }

  private unary(method: GrpcMethod): grpc.handleUnaryCall<Record<string, unknown>, Record<string, unknown>> {
    return (call, callback) => {
      const headers = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
      void withSpan(
        `flotilla.v1.${method.name.replace('.', '/')}`,
        { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': `flotilla.v1.${method.name.split('.')[0]}`, 'rpc.method': method.name.split('.')[1] ?? '' } },
        async (span) => {
          const done = this.durations.startTimer({ method: method.name });
          try {
            const caller = await this.admit(call, method.route.access, method.name);
            const payload = method.toRequest(call.request ?? {});
            const idempotencyKey = metaValue(call.metadata, 'idempotency-key');
            const reply = await this.messaging.request(method.route, payload as never, {
              identity: { actor: caller.actor, tenantId: caller.tenantId, role: caller.role, sourceAddress: call.getPeer() },
              correlationId: metaValue(call.metadata, 'x-request-id') ?? randomUUID(),
              ...(idempotencyKey ? { idempotencyKey } : {}),
              timeoutMs: method.route.commandReply ? this.config.REQUEST_TIMEOUT_MS * 3 : this.config.REQUEST_TIMEOUT_MS,
            });
            span.setAttribute('rpc.grpc.status_code', grpc.status.OK);
            done({ code: grpc.status[grpc.status.OK] });
            callback(null, method.toReply(reply));
          } catch (err) {
            const e = grpcError(err);
            span.setAttribute('rpc.grpc.status_code', e.code);
            done({ code: grpc.status[e.code] ?? String(e.code) });
            if (e.code === grpc.status.INTERNAL) this.logger.error({ err, method: method.name }, 'gRPC call failed');
            callback(e);
          }
        },
        contextFromHeaders(headers),
      );
    };
  }

  private async watchEvents(call: grpc.ServerWritableStream<Record<string, unknown>, Record<string, unknown>>): Promise<void> {
    const controller = new AbortController();
    this.watchers.add(controller);
    call.on('cancelled', () => controller.abort());
    const r = call.request ?? {};
    const from = typeof r['from_position'] === 'string' && r['from_position'] !== '' ? r['from_position'] : undefined;
    let release: (() => void) | undefined;
    try {
      const caller = await this.admit(call, 'read', 'EventService.WatchEvents');
      release = this.watcherLimits.acquire(caller.principal);
      if (from !== undefined && !/^\d+$/.test(from)) throw ValidationError.of([{ path: 'from_position', message: 'expected a decimal log position' }], 'watch request');
      const aggregate = typeof r['aggregate'] === 'string' && r['aggregate'] ? (r['aggregate'] as 'cluster' | 'node' | 'blueprint') : undefined;
      for await (const e of this.feed.watch(
        {
          clusterId: (r['cluster_id'] as string) || undefined,
          nodeId: (r['node_id'] as string) || undefined,
          aggregate,
          types: (r['types'] as string[] | undefined)?.filter(Boolean),
          afterPosition: from !== undefined ? BigInt(from) : undefined,
          tenantId: spansAllTenants(caller) ? undefined : caller.tenantId,
        },
        controller.signal,
        caller,
      )) {
        // A slow reader makes the watcher wait instead of grpc-js buffering without end.
        if (!call.write({ ...e, revision: String(e.revision), data: toStruct(e.data), metadata: toStruct(e.metadata) })) {
          await once(call, 'drain', { signal: controller.signal }).catch(() => undefined);
        }
      }
      call.end();
    } catch (err) {
      // grpc-js sends a server stream's status from its 'error' handler; destroy() would drop the
      // stream without one, leaving the client waiting.
      if (!controller.signal.aborted) call.emit('error', grpcError(err));
      else call.end();
    } finally {
      release?.();
      this.watchers.delete(controller);
    }
  }
}
