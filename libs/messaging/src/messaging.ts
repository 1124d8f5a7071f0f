import { SpanKind, type Span } from '@opentelemetry/api';
import {
  connect,
  errors as natsErrors,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import {
  Headers,
  Namespace,
  natsInboxPrefix,
  nodeOfSubject,
  parseOrThrow,
  routeSubject,
  SYSTEM_IDENTITY,
  type ReplyEnvelope,
  type RequestIdentity,
  type Route,
  type RouteRequest,
  type RouteRequestParsed,
  type RouteResponse,
} from '@flotilla/contracts';
import { errorFromEnvelope, TimeoutError, toFlotillaError, UnauthenticatedError, UnavailableError, type FlotillaError } from '@flotilla/domain';
import { contextFromHeaders, currentTraceHeaders, type Logger, withSpan } from '@flotilla/telemetry';

export type NatsErrorKind = 'timeout' | 'no_responders' | 'request' | 'disconnect' | 'connection';

export interface MessagingOptions {
  readonly servers: readonly string[];
  /** Connection name shown by the server (`<service>:<instance>`). */
  readonly name: string;
  readonly namespace: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly requestTimeoutMs: number;
  readonly logger?: Logger;
  /** Keep retrying the first connection instead of failing at once (services at start). */
  readonly waitOnFirstConnect?: boolean;
}

/** What a handler learns about the request besides its payload. */
export interface RequestMeta {
  readonly subject: string;
  /**
   * On a per-node route (`<subject>.<nodeId>`), the node the request was sent for: the subject's
   * last token. NATS permissions let only that node's user (and the services) publish it.
   */
  readonly node?: string | undefined;
  readonly identity: RequestIdentity | undefined;
  readonly correlationId: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly traceparent: string | undefined;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
  /** The node of a per-node route (`routeSubject`): a node agent sends for its own node only. */
  readonly node?: string;
  readonly identity?: RequestIdentity;
  readonly correlationId?: string;
  readonly idempotencyKey?: string;
}

export type Handler<R extends Route> = (data: RouteRequestParsed<R>, meta: RequestMeta) => Promise<RouteResponse<R>> | RouteResponse<R>;

export interface ServeOptions {
  /** Queue group: replicas of one service share the load. Defaults to the route's service. */
  readonly queue?: string | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function decodeJson<T = unknown>(data: Uint8Array): T {
  return (data.length ? JSON.parse(decoder.decode(data)) : undefined) as T;
}

/**
 * The process's one NATS connection (it reconnects on its own), with typed request/reply,
 * JSON publishing and JetStream handles. Every name passes through the namespace.
 */
export class Messaging {
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly subs = new Set<Subscription>();
  private jsmPromise: Promise<JetStreamManager> | undefined;
  private connected = true;

  /** Use `Messaging.connect`; the constructor is public only so Nest can use the class as a token. */
  constructor(
    readonly nc: NatsConnection,
    readonly ns: Namespace,
    private readonly options: MessagingOptions,
  ) {
    void this.watchStatus();
  }

  static async connect(options: MessagingOptions): Promise<Messaging> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...options.servers],
        name: options.name,
        // Replies come to this user's own inbox prefix (`_INBOX_<user>`), the only inbox its
        // permissions let it subscribe to: no client can read another's replies.
        ...(options.user ? { user: options.user, pass: options.password ?? '', inboxPrefix: natsInboxPrefix(options.user) } : {}),
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        waitOnFirstConnect: options.waitOnFirstConnect ?? false,
        // The client would otherwise build an Error (a stack capture) for every request, in case
        // it times out: a measurable share of a request's CPU. Failures become typed errors here.
        noAsyncTraces: true,
      });
    } catch (err) {
      throw new UnavailableError(`cannot connect to NATS at ${options.servers.join(', ')}: ${(err as Error).message}`, {
        dependency: 'nats',
      });
    }
    return new Messaging(nc, new Namespace(options.namespace), options);
  }

  /** How this connection was made: enough for another thread to open one of its own. */
  get connectionOptions(): Pick<MessagingOptions, 'servers' | 'name' | 'namespace' | 'user' | 'password' | 'requestTimeoutMs'> {
    const { servers, name, namespace, user, password, requestTimeoutMs } = this.options;
    return { servers, name, namespace, user, password, requestTimeoutMs };
  }

  get isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  js(): JetStreamClient {
    return jetstream(this.nc);
  }

  jsm(): Promise<JetStreamManager> {
    this.jsmPromise ??= jetstreamManager(this.nc);
    return this.jsmPromise;
  }

  subject(subject: string): string {
    return this.ns.subject(subject);
  }

  /** Round-trip time to the server, in milliseconds. */
  rtt(): Promise<number> {
    return this.nc.rtt();
  }

  /** Sends a request and returns the typed reply, or throws the typed error the server raised. */
  async request<R extends Route>(route: R, data: RouteRequest<R>, opts: RequestOptions = {}): Promise<RouteResponse<R>> {
    const subject = this.ns.subject(routeSubject(route, opts.node));
    const timeout = opts.timeoutMs ?? this.options.requestTimeoutMs;
    return withSpan(
      `send ${route.subject}`,
      { kind: SpanKind.CLIENT, attributes: messagingAttributes(subject, 'send') },
      async () => {
        const h = natsHeaders();
        for (const [k, v] of Object.entries(currentTraceHeaders())) h.set(k, v);
        // A service's own request says so (the system identity) rather than saying nothing: a
        // request without identity headers is refused (see handle). Per-node routes carry none.
        setIdentityHeaders(h, opts, opts.identity ?? (route.perNode ? undefined : SYSTEM_IDENTITY));
        let reply: Msg;
        try {
          reply = await this.nc.request(subject, encodeJson(data ?? {}), { timeout, headers: h });
        } catch (err) {
          throw this.requestFailure(err, route, subject, timeout);
        }
        const envelope = decodeJson<ReplyEnvelope<RouteResponse<R>>>(reply.data);
        if (!envelope || typeof envelope !== 'object' || !('ok' in envelope)) {
          throw new UnavailableError(`malformed reply on ${route.subject}`, { subject: route.subject });
        }
        if (envelope.ok) return envelope.data;
        throw errorFromEnvelope(envelope.error as Parameters<typeof errorFromEnvelope>[0]);
      },
    );
  }

  /**
   * Answers a route. The request is validated against the route's schema before the handler
   * runs; whatever the handler throws goes back as a typed error envelope. Handlers in flight
   * are tracked so that `drainHandlers()` can let them finish at shutdown.
   */
  serve<R extends Route>(route: R, handler: Handler<R>, opts: ServeOptions = {}): Subscription {
    const subject = this.ns.subject(route.subject);
    const queue = opts.queue === undefined ? this.ns.bucket(route.service) : (opts.queue ?? undefined);
    const sub = this.nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) {
          this.options.logger?.error({ err, subject }, 'subscription error');
          return;
        }
        this.track(this.handle(route, handler, msg));
      },
    });
    this.subs.add(sub);
    void sub.closed.then(() => this.subs.delete(sub));
    return sub;
  }

  private async handle<R extends Route>(route: R, handler: Handler<R>, msg: Msg): Promise<void> {
    const carrier = headerRecord(msg.headers);
    await withSpan(
      `process ${route.subject}`,
      { kind: SpanKind.SERVER, attributes: messagingAttributes(msg.subject, 'process') },
      async (span: Span) => {
        let envelope: ReplyEnvelope<unknown>;
        const started = performance.now();
        try {
          const data = parseOrThrow(route.request, decodeJson(msg.data) ?? {}, `${route.subject} request`) as RouteRequestParsed<R>;
          const meta = requestMeta(msg, carrier);
          // Who asks is what the headers say, and only users that NATS permissions let publish this
          // route can say it (end users' identities: the gateway alone). Saying nothing is not
          // the system's identity, it is no identity: refused. A per-node route's identity is
          // its subject's node instead (only that node's NATS user may publish it).
          if (!route.perNode && !meta.identity) throw new UnauthenticatedError(`a request on ${route.subject} without identity headers is refused`, { subject: route.subject });
          const result = await handler(data, route.perNode ? { ...meta, node: nodeOfSubject(route, this.ns.unprefix(msg.subject)) } : meta);
          envelope = { ok: true, data: result };
        } catch (err) {
          const error: FlotillaError = toFlotillaError(err);
          span.setAttribute('flotilla.error.code', error.code);
          if (error.code === 'internal') {
            this.options.logger?.error({ err, subject: route.subject }, 'handler failed');
          }
          envelope = { ok: false, error: { ...error.toEnvelope(), details: { ...error.details } } };
        }
        this.onHandled?.(route.subject, envelope.ok ? 'ok' : envelope.error.code, (performance.now() - started) / 1000);
        if (msg.reply) {
          try {
            msg.respond(encodeJson(envelope));
          } catch (err) {
            this.options.logger?.warn({ err, subject: route.subject }, 'could not send reply');
          }
        }
      },
      contextFromHeaders(carrier),
    );
  }

  /** Publishes JSON on a core NATS subject (heartbeats, telemetry), with trace headers. */
  publish(subject: string, data: unknown): void {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(currentTraceHeaders())) h.set(k, v);
    this.nc.publish(this.ns.subject(subject), encodeJson(data), { headers: h });
  }

  /** Tracks work that must finish before the connection closes. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work)).catch(() => undefined);
    return work;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * Shutdown, step 1: stop taking requests (unsubscribe every served route, letting messages
   * already delivered to this process through) and wait for handlers in flight, up to `graceMs`.
   */
  async drainHandlers(graceMs: number): Promise<boolean> {
    await Promise.allSettled([...this.subs].map((s) => s.drain()));
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    const done = await Promise.race([Promise.allSettled([...this.inflight]).then(() => 'done' as const), deadline]);
    return done === 'done';
  }

  /** Shutdown, step 2: flush what was published and close the connection. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => undefined);
    }
  }

  /**
   * Told about every failed request and connection event, for the service's metrics
   * (`flotilla_nats_errors_total`). Set once by the platform.
   */
  onError: ((kind: NatsErrorKind, dependency: string) => void) | undefined;

  /**
   * Told about every request this process answered: its route, outcome ('ok' or the error code)
   * and handling time, for the service's metrics. Set once by the platform.
   */
  onHandled: ((subject: string, outcome: string, seconds: number) => void) | undefined;

  private requestFailure(err: unknown, route: Route, subject: string, timeout: number): FlotillaError {
    const e = err as Error;
    const cause = (e as { cause?: unknown }).cause;
    if (e instanceof natsErrors.NoRespondersError || cause instanceof natsErrors.NoRespondersError || (e instanceof natsErrors.RequestError && e.isNoResponders())) {
      this.onError?.('no_responders', route.service);
      return new UnavailableError(`no ${route.service} replica is answering ${route.subject}`, {
        dependency: route.service,
        subject: route.subject,
      });
    }
    if (e instanceof natsErrors.TimeoutError || cause instanceof natsErrors.TimeoutError) {
      this.onError?.('timeout', route.service);
      return new TimeoutError(`${route.service} did not answer ${route.subject} within ${timeout} ms`, {
        dependency: route.service,
        subject: route.subject,
        timeout_ms: timeout,
      });
    }
    this.onError?.('request', route.service);
    return new UnavailableError(`NATS request on ${subject} failed: ${e.message}`, { dependency: 'nats' });
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.connected = false;
          this.onError?.('disconnect', 'nats');
          this.options.logger?.warn({ server: s.server }, 'NATS disconnected; reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.options.logger?.info({ server: s.server }, 'NATS reconnected');
          break;
        case 'error':
          this.onError?.('connection', 'nats');
          this.options.logger?.error({ err: s.error }, 'NATS error');
          break;
        default:
          break;
      }
    }
  }
}

export function messagingAttributes(subject: string, operation: 'send' | 'process' | 'publish' | 'receive') {
  return {
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
  };
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k.toLowerCase()] = h.get(k);
  return out;
}

function setIdentityHeaders(h: MsgHdrs, opts: RequestOptions, identity: RequestIdentity | undefined): void {
  if (identity) {
    h.set(Headers.actor, identity.actor);
    h.set(Headers.tenant, identity.tenantId);
    h.set(Headers.role, identity.role);
    if (identity.sourceAddress) h.set(Headers.sourceAddress, identity.sourceAddress);
  }
  if (opts.correlationId) h.set(Headers.correlationId, opts.correlationId);
  if (opts.idempotencyKey) h.set(Headers.idempotencyKey, opts.idempotencyKey);
}

function requestMeta(msg: Msg, h: Record<string, string>): RequestMeta {
  const actor = h[Headers.actor.toLowerCase()];
  const tenantId = h[Headers.tenant.toLowerCase()];
  const role = h[Headers.role.toLowerCase()] as RequestIdentity['role'] | undefined;
  const source = h[Headers.sourceAddress.toLowerCase()];
  return {
    subject: msg.subject,
    identity:
      actor && tenantId && role
        ? { actor, tenantId, role, ...(source ? { sourceAddress: source } : {}) }
        : undefined,
    correlationId: h[Headers.correlationId.toLowerCase()],
    idempotencyKey: h[Headers.idempotencyKey.toLowerCase()],
    traceparent: h['traceparent'],
  };
}
