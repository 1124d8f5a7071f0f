import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '@flotilla/config';
import { Headers, type RequestIdentity } from '@flotilla/contracts';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, httpErrorOf, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { contextFromHeaders, promClient, withSpan, type Counter, type Histogram, type Logger, type Registry } from '@flotilla/telemetry';
import { REST_ROUTES, YAML_CONTENT_TYPES, type RestRoute } from './rest-routes.js';

/** Until authentication exists, every caller acts as this identity (one tenant, full rights). */
export const ANONYMOUS: RequestIdentity = { actor: 'anonymous', tenantId: 'default', role: 'admin' };

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

  register(fastify: FastifyInstance): void {
    fastify.addContentTypeParser(YAML_CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
    fastify.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    for (const route of REST_ROUTES) {
      fastify.route({ method: route.method, url: route.path, handler: (req, reply) => this.handle(route, req, reply) });
    }
    // Unknown routes and body-parsing errors go through Nest's handlers to FlotillaExceptionFilter.
  }

  identity(_req: FastifyRequest): RequestIdentity {
    return ANONYMOUS;
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
          const payload = route.toRequest({
            params: req.params as Record<string, string>,
            query,
            body: req.body,
            contentType: String(headers['content-type'] ?? ''),
          });
          if (route.kind === 'command' && wait) payload['wait'] = true;
          const identity = { ...this.identity(req), sourceAddress: req.ip };
          const correlationId = headers['x-request-id'] ?? randomUUID();
          const result = await this.messaging.request(route.route, payload as never, {
            identity,
            correlationId,
            ...(headers['idempotency-key'] ? { idempotencyKey: headers['idempotency-key'] } : {}),
            timeoutMs: route.kind === 'command' ? this.config.REQUEST_TIMEOUT_MS * 3 : this.config.REQUEST_TIMEOUT_MS,
          });
          void reply.header('X-Request-Id', correlationId);
          if (route.render) {
            const r = route.render(result);
            status = 200;
            void reply.status(status).type(r.contentType).send(r.body);
          } else if (route.kind === 'command') {
            const c = result as { result: unknown; position: string | null; events: string[]; duplicate: boolean };
            status = route.created && !c.duplicate ? 201 : 200;
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
          this.requests.inc({ method: route.method, route: route.path, status: String(status) });
          this.durations.observe({ method: route.method, route: route.path }, (performance.now() - started) / 1000);
        }
      },
      contextFromHeaders(headers),
    );
  }
}
