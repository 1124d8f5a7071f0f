import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '@flotilla/config';
import { Headers, type Access } from '@flotilla/contracts';
import { ForbiddenError, ValidationError } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, httpErrorOf, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { contextFromHeaders, promClient, withSpan, type Counter, type Histogram, type Logger, type Registry } from '@flotilla/telemetry';
import { authorize } from '../auth/access-policy.js';
import { Authenticator, type Caller } from '../auth/authenticator.js';
import { parseJsonWithDepthLimit } from '../auth/json-depth.js';
import { RateLimiter } from '../auth/rate-limiter.js';
import { REST_ROUTES, YAML_CONTENT_TYPES, type RestRoute } from './rest-routes.js';
import { DASHBOARD_ROUTES } from '../dashboard.js';

/**
 * Routes outside the API's table: probes, metrics, the dashboard's static files, and the event
 * stream and whoami (which authenticate themselves).
 */
export const PUBLIC_ROUTES = ['GET /live', 'GET /health', 'GET /ready', 'GET /metrics', 'GET /api/events/stream', ...DASHBOARD_ROUTES];

/** On every HTTP response, the hijacked SSE stream included (it writes them itself). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'permissions-policy': 'geolocation=(), camera=(), microphone=()',
};

const truthy = (v: unknown) => v === true || v === 'true' || v === '1' || v === 'yes';

/**
 * Serves REST_ROUTES on the gateway's Fastify instance: each request becomes a NATS request to
 * the owning service, with the caller's identity, correlation id and idempotency key in
 * headers; replies and typed errors come back as JSON (`{error: {code, message, details}}`).
 */
@Injectable()
export class RestGateway {
  private readonly requests: Counter<string>;
  private readonly durations: Histogram<string>;

  constructor(
    private readonly messaging: Messaging,
    private readonly auth: Authenticator,
    private readonly limiter: RateLimiter,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.requests = new promClient.Counter({ name: 'flotilla_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
    this.durations = new promClient.Histogram({
      name: 'flotilla_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  /** Per route and status, the labelled metric children (labels hashed once, not per request). */
  private readonly children = new Map<string, { requests: { inc(): void }; durations: { observe(v: number): void } }>();

  private measured(route: RestRoute, status: number, seconds: number): void {
    const key = `${route.method} ${route.path} ${status}`;
    let c = this.children.get(key);
    if (!c) {
      c = { requests: this.requests.labels(route.method, route.path, String(status)), durations: this.durations.labels(route.method, route.path) };
      this.children.set(key, c);
    }
    c.requests.inc();
    c.durations.observe(seconds);
  }

  register(fastify: FastifyInstance): void {
    // JSON bodies are depth-checked before they are built (a 1,000-deep document is a 400).
    fastify.removeContentTypeParser('application/json');
    fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseJsonWithDepthLimit(body as string, this.config.JSON_MAX_DEPTH));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    fastify.addContentTypeParser(YAML_CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
    fastify.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    // A route that is neither in REST_ROUTES (with its access rule) nor public is refused, so a
    // new endpoint cannot ship open by accident.
    const tabled = new Set([...REST_ROUTES.map((r) => `${r.method} ${r.path}`), ...PUBLIC_ROUTES]);
    fastify.addHook('onRequest', async (req, reply) => {
      const url = req.routeOptions.url;
      if (url === undefined) return; // no route matched: Nest answers 404
      const key = `${req.method === 'HEAD' ? 'GET' : req.method} ${url}`;
      if (!tabled.has(key) && !url.startsWith('/docs')) {
        this.auth.failures.inc({ reason: 'untabled_route' });
        const e = httpErrorOf(new ForbiddenError(`${key} has no entry in the gateway's route table`, { route: key }));
        return reply.status(e.status).send(e.body);
      }
    });
    fastify.addHook('onSend', async (req, reply, payload) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) void reply.header(k, v);
      // The API answers JSON or Markdown only: nothing it sends may run as a page. /docs needs
      // scripts; the dashboard's files carry their own policy (scripts from this origin only).
      if (!req.url.startsWith('/docs') && !reply.hasHeader('content-security-policy')) void reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
      return payload;
    });
    for (const route of REST_ROUTES) {
      fastify.route({ method: route.method, url: route.path, handler: (req, reply) => this.handle(route, req, reply) });
    }
    // Unknown routes and body-parsing errors go through Nest's handlers to FlotillaExceptionFilter.
  }

  /** Authenticates a request: the caller, or UnauthenticatedError. */
  async caller(req: FastifyRequest): Promise<Caller> {
    const h = req.headers as Record<string, string | undefined>;
    return this.auth.authenticate({ authorization: h['authorization'], apiKey: h['x-api-key'], actAsTenant: h['x-flotilla-tenant'] }, req.ip);
  }

  /** Authentication, the route's access rule, then the caller's rate limit. */
  async admit(req: FastifyRequest, access: Access, operation: string): Promise<Caller> {
    const caller = await this.caller(req);
    try {
      authorize(caller, access, operation);
    } catch (err) {
      this.auth.failures.inc({ reason: 'forbidden' });
      this.logger.warn({ actor: caller.actor, tenant: caller.tenantId, role: caller.role, operation, source: req.ip }, 'authorization refused');
      throw err;
    }
    this.limiter.take(caller.principal);
    return caller;
  }

  private async handle(route: RestRoute, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const started = performance.now();
    const headers = req.headers as Record<string, string | undefined>;
    await withSpan(
      `${route.method} ${route.path}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': route.method, 'http.route': route.path, 'url.path': req.url.split('?')[0] ?? '', 'flotilla.operation': route.operationId },
      },
      async (span) => {
        let status = 500;
        try {
          const query = { ...(req.query as Record<string, unknown>) };
          const wait = truthy(query['wait']) || truthy(headers['flotilla-wait']);
          delete query['wait'];
          const dryRunAsked = 'dry_run' in query;
          const dryRun = truthy(query['dry_run']);
          delete query['dry_run'];
          const payload = route.toRequest({
            params: req.params as Record<string, string>,
            query,
            body: req.body,
            contentType: String(headers['content-type'] ?? ''),
          });
          if (route.route.commandReply && wait) payload['wait'] = true;
          if (dryRun) payload['dry_run'] = true;
          const caller = await this.admit(req, route.route.access, route.operationId);
          if (dryRunAsked && !route.route.dryRun) {
            throw ValidationError.of([{ path: 'dry_run', message: `${route.operationId} has no dry run` }], 'query');
          }
          const identity = { actor: caller.actor, tenantId: caller.tenantId, role: caller.role, sourceAddress: req.ip };
          const correlationId = headers['x-request-id'] ?? randomUUID();
          const result = await this.messaging.request(route.route, payload as never, {
            identity,
            correlationId,
            ...(headers['idempotency-key'] ? { idempotencyKey: headers['idempotency-key'] } : {}),
            timeoutMs: route.route.commandReply ? this.config.REQUEST_TIMEOUT_MS * 3 : this.config.REQUEST_TIMEOUT_MS,
          });
          void reply.header('X-Request-Id', correlationId);
          if (route.render) {
            const r = route.render(result);
            status = 200;
            void reply.status(status).type(r.contentType).send(r.body);
          } else if (route.route.dryRun && (result as { dry_run?: boolean }).dry_run) {
            // A dry run: what the command would append, the state it would lead to and (placement)
            // its plan; nothing stored, nothing reserved.
            const c = result as { result: unknown; planned?: unknown[]; plan?: unknown };
            status = 200;
            void reply.header('Flotilla-Dry-Run', 'true');
            void reply.status(status).send({ dry_run: true, result: c.result, events: c.planned ?? [], ...(c.plan !== undefined ? { plan: c.plan } : {}) });
          } else if (route.route.commandReply) {
            const c = result as { result: unknown; position: string | null; events: string[]; duplicate: boolean; read_models_behind?: boolean };
            // ?wait=true and the read models lag: the command is stored (at Flotilla-Position), so
            // this is a success, 202 Accepted, never an error a client would retry into a duplicate.
            status = c.read_models_behind ? 202 : route.created && !c.duplicate ? 201 : 200;
            if (c.read_models_behind) void reply.header('Flotilla-Read-Models', 'behind');
            if (c.position) void reply.header('Flotilla-Position', c.position);
            void reply.header('Flotilla-Events', c.events.join(','));
            if (c.duplicate) void reply.header(Headers.idempotencyKey + '-Replayed', 'true');
            void reply.status(status).send(c.result);
          } else {
            status = route.status ?? (route.created ? 201 : 200);
            void reply.status(status).send(result);
          }
        } catch (err) {
          const e = httpErrorOf(err);
          status = e.status;
          if (e.internal) this.logger.error({ err, route: route.operationId }, 'request failed');
          void reply.status(e.status).headers(e.headers).send(e.body);
        } finally {
          span.setAttribute('http.response.status_code', status);
          this.measured(route, status, (performance.now() - started) / 1000);
        }
      },
      contextFromHeaders(headers),
    );
  }
}
