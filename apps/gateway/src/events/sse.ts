import { once } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { spansAllTenants } from '@flotilla/contracts';
import { isValidId, ValidationError } from '@flotilla/domain';
import { httpErrorOf } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { SECURITY_HEADERS, type RestGateway } from '../rest/rest-gateway.js';
import type { Caller } from '../auth/authenticator.js';
import type { EventFeed, EventFilter } from './event-feed.service.js';
import type { WatcherLimits } from './watcher-limits.js';

const HEARTBEAT_MS = 15_000;

function filterFrom(req: FastifyRequest): EventFilter {
  const q = req.query as Record<string, string | undefined>;
  const lastId = (req.headers['last-event-id'] as string | undefined) ?? q['after'];
  const issues = [];
  if (q['cluster'] && !isValidId('cluster', q['cluster'])) issues.push({ path: 'cluster', message: 'expected a cluster id' });
  if (q['node'] && !isValidId('node', q['node'])) issues.push({ path: 'node', message: 'expected a node id' });
  if (q['aggregate'] && !['cluster', 'node', 'blueprint'].includes(q['aggregate'])) issues.push({ path: 'aggregate', message: 'expected cluster, node or blueprint' });
  if (lastId !== undefined && !/^\d+$/.test(lastId)) issues.push({ path: 'Last-Event-ID', message: 'expected a log position (the id of an event already received)' });
  if (issues.length) throw ValidationError.of(issues, 'event stream filter');
  return {
    clusterId: q['cluster'],
    nodeId: q['node'],
    aggregate: q['aggregate'] as EventFilter['aggregate'],
    types: q['type']?.split(',').filter(Boolean),
    afterPosition: lastId !== undefined ? BigInt(lastId) : undefined,
  };
}

/**
 * `GET /api/events/stream`: server-sent events, one per cluster event (`id:` is its log position,
 * `event:` its type, `data:` the JSON event). Filter with ?cluster=&node=&aggregate=&type=a,b;
 * reconnecting with `Last-Event-ID` resumes right after the last event received. Each caller may
 * hold EVENT_WATCHERS_PER_CALLER streams, a gateway EVENT_WATCHERS_MAX (429 beyond); a caller of
 * one tenant reads only its tenant's events (EventFeed).
 */
export function registerEventStream(fastify: FastifyInstance, feed: EventFeed, logger: Logger, rest: RestGateway, limits: WatcherLimits): void {
  fastify.get('/api/events/stream', async (req: FastifyRequest, reply: FastifyReply) => {
    let filter: EventFilter;
    let caller: Caller;
    let release: () => void;
    try {
      // Browsers' EventSource cannot set headers: the credentials may come as ?access_token=.
      const token = (req.query as Record<string, string | undefined>)['access_token'];
      if (token && !req.headers['authorization']) req.headers['authorization'] = `Bearer ${token}`;
      caller = await rest.admit(req, 'read', 'watchEvents');
      // A caller sees only its own tenant's events, whatever filter it asks for.
      filter = { ...filterFrom(req), tenantId: spansAllTenants(caller) ? undefined : caller.tenantId };
      release = limits.acquire(caller.principal);
    } catch (err) {
      const e = httpErrorOf(err);
      return reply.status(e.status).headers(e.headers).send(e.body);
    }
    const controller = new AbortController();
    req.raw.on('close', () => controller.abort());
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      // A hijacked reply skips the onSend hook that adds these to every other response.
      ...SECURITY_HEADERS,
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': flotilla event stream\nretry: 2000\n\n');
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    try {
      for await (const event of feed.watch(filter, controller.signal, caller)) {
        // A slow reader makes the watcher wait (and its feed buffer, bounded) instead of the
        // socket buffering without end.
        if (!res.write(`id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)) {
          await once(res, 'drain', { signal: controller.signal }).catch(() => undefined);
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) {
        logger.warn({ err }, 'event stream failed');
        res.write(`event: error\ndata: ${JSON.stringify(httpErrorOf(err).body)}\n\n`);
      }
    } finally {
      clearInterval(heartbeat);
      release();
      res.end();
    }
  });
}
