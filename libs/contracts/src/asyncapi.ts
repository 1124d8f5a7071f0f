import { stringify } from 'yaml';
import { z } from 'zod';
import { BLUEPRINT_EVENT_TYPES, CLUSTER_EVENT_TYPES, NODE_EVENT_TYPES } from '@flotilla/domain';
import { Headers } from './headers.js';
import { orchestratorRoutes } from './orchestrator.js';
import { heartbeat, registryRoutes, registrySubjects } from './registry.js';
import type { Route } from './route.js';
import { pingRoutes } from './system.js';

type Json = Record<string, unknown>;

const schema = (s: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, {
    io,
    unrepresentable: 'any',
    reused: 'inline',
  }) as Json;
  return rest;
};

const ERROR_REPLY = {
  type: 'object',
  required: ['ok', 'error'],
  properties: {
    ok: { const: false },
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object' },
      },
    },
  },
};

export const EVENT_MESSAGE_SCHEMA: Json = {
  type: 'object',
  required: [
    'id',
    'type',
    'stream',
    'aggregate',
    'aggregate_id',
    'revision',
    'position',
    'occurred_at',
    'data',
    'metadata',
  ],
  properties: {
    id: { type: 'string', format: 'uuid', description: 'UUIDv7; also the Nats-Msg-Id header' },
    type: { type: 'string', description: 'The event type (past tense), e.g. ClusterScaled' },
    stream: { type: 'string', description: '<aggregate>-<id>, e.g. cluster-cluster-test-001' },
    aggregate: { enum: ['cluster', 'node', 'blueprint'] },
    aggregate_id: { type: 'string' },
    revision: { type: 'integer', description: 'Position in its stream, 0 for the first event' },
    position: {
      type: 'string',
      pattern: '^[0-9]+$',
      description:
        'Position in the global log (decimal string; strictly increasing in delivery order)',
    },
    occurred_at: { type: 'string', format: 'date-time' },
    data: { type: 'object' },
    metadata: {
      type: 'object',
      required: [
        'tenantId',
        'actor',
        'correlationId',
        'causationId',
        'traceparent',
        'schemaVersion',
      ],
      properties: {
        tenantId: { type: 'string' },
        actor: { type: 'string' },
        correlationId: { type: 'string' },
        causationId: { type: ['string', 'null'] },
        traceparent: { type: ['string', 'null'] },
        schemaVersion: { type: 'integer' },
      },
    },
  },
};

function operationId(subject: string): string {
  return subject.replace(/[.-](\w)/g, (_m, c: string) => c.toUpperCase());
}

/**
 * The message API as an AsyncAPI 3 document, generated from the same routes and schemas the
 * services validate with (a test keeps the committed `asyncapi.yaml` equal to this).
 */
export function asyncApiDocument(): Json {
  const channels: Json = {};
  const operations: Json = {};
  const messages: Json = {};
  const routes: Route[] = [
    ...Object.values(orchestratorRoutes),
    ...Object.values(registryRoutes),
    ...Object.values(pingRoutes),
  ];
  for (const r of routes) {
    const id = operationId(r.subject);
    messages[`${id}Request`] = {
      name: `${r.subject} request`,
      contentType: 'application/json',
      payload: schema(r.request, 'input'),
    };
    messages[`${id}Reply`] = {
      name: `${r.subject} reply`,
      contentType: 'application/json',
      payload: {
        oneOf: [
          {
            type: 'object',
            required: ['ok', 'data'],
            properties: { ok: { const: true }, data: schema(r.response, 'output') },
          },
          ERROR_REPLY,
        ],
      },
    };
    channels[id] = {
      address: r.subject,
      messages: { request: { $ref: `#/components/messages/${id}Request` } },
      description: r.description,
    };
    channels[`${id}Reply`] = {
      address: null,
      messages: { reply: { $ref: `#/components/messages/${id}Reply` } },
      description: `Reply inbox of ${r.subject}`,
    };
    operations[id] = {
      action: 'receive',
      channel: { $ref: `#/channels/${id}` },
      summary: r.description,
      description: `Answered by the ${r.service} service (queue group ${r.service}). Headers: traceparent, ${Object.values(Headers).join(', ')}.`,
      reply: { channel: { $ref: `#/channels/${id}Reply` } },
    };
  }
  const eventTypes = [...CLUSTER_EVENT_TYPES, ...NODE_EVENT_TYPES, ...BLUEPRINT_EVENT_TYPES];
  messages['Event'] = {
    name: 'Event',
    contentType: 'application/json',
    summary: `One stored event. Types: ${eventTypes.join(', ')}.`,
    headers: {
      type: 'object',
      properties: {
        'Nats-Msg-Id': { type: 'string', description: 'The event id (a replay never duplicates)' },
        'Flotilla-Position': { type: 'string', description: 'The global log position' },
        'Flotilla-Event-Type': { type: 'string' },
        traceparent: {
          type: 'string',
          description: 'W3C trace context of the command that caused it',
        },
      },
    },
    payload: EVENT_MESSAGE_SCHEMA,
  };
  channels['events'] = {
    address: 'flotilla.events.{aggregate}.{aggregateId}.{eventType}',
    description:
      'Every stored event, published by the relay to the JetStream stream FLOTILLA_EVENTS in log order (replay from the start with any JetStream consumer). Subscribe to flotilla.events.> for everything, flotilla.events.cluster.<id>.> for one cluster.',
    parameters: {
      aggregate: { enum: ['cluster', 'node', 'blueprint'] },
      aggregateId: { description: 'The cluster, node or blueprint id' },
      eventType: { enum: eventTypes },
    },
    messages: { event: { $ref: '#/components/messages/Event' } },
  };
  operations['receiveEvents'] = {
    action: 'send',
    channel: { $ref: '#/channels/events' },
    summary: 'Cluster, node and blueprint events, as they are stored',
  };
  channels['tenantEvents'] = {
    address: 'flotilla.tenants.{tenantId}.events.{aggregate}.{aggregateId}.{eventType}',
    description:
      "The same events, live on core NATS under their tenant (not persisted), right after the relay stored them in FLOTILLA_EVENTS: what a tenant's integrator credentials may subscribe to. Replay a tenant's history through GET /api/clusters/{id}/events or gRPC WatchEvents.",
    parameters: {
      tenantId: { description: 'The tenant the aggregate belongs to' },
      aggregate: { enum: ['cluster', 'node', 'blueprint'] },
      aggregateId: { description: 'The cluster, node or blueprint id' },
      eventType: { enum: [...eventTypes] },
    },
    messages: { event: { $ref: '#/components/messages/Event' } },
  };
  operations['receiveTenantEvents'] = {
    action: 'send',
    channel: { $ref: '#/channels/tenantEvents' },
    summary: "One tenant's events, live",
  };
  messages['Heartbeat'] = {
    name: 'Heartbeat',
    contentType: 'application/json',
    payload: schema(heartbeat, 'input'),
  };
  channels['heartbeats'] = {
    address: registrySubjects.heartbeats.replace('*', '{nodeId}'),
    description:
      'Core NATS (not persisted): each node agent publishes its heartbeat every HEARTBEAT_INTERVAL_MS.',
    parameters: { nodeId: { description: 'The node id' } },
    messages: { heartbeat: { $ref: '#/components/messages/Heartbeat' } },
  };
  operations['sendHeartbeat'] = {
    action: 'receive',
    channel: { $ref: '#/channels/heartbeats' },
    summary: 'Heartbeats, received by every registry replica',
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Flotilla message API',
      version: '0.1.0',
      description:
        'NATS subjects of Flotilla. Requests are JSON; replies are {ok: true, data} or {ok: false, error: {code, message, details}}. With FLOTILLA_NAMESPACE set, every subject, stream and bucket is prefixed by it.',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description: 'The local stack (npm start)',
      },
    },
    channels,
    operations,
    components: { messages },
  };
}

export function asyncApiYaml(): string {
  return `# Generated from libs/contracts (npm run asyncapi -w @flotilla/contracts); a test keeps it current.\n${stringify(asyncApiDocument(), { lineWidth: 0 })}`;
}
