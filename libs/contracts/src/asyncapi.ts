import { stringify } from 'yaml';
import { z } from 'zod';
import { BLUEPRINT_EVENT_TYPES, CLUSTER_EVENT_TYPES, NODE_EVENT_TYPES } from '@flotilla/domain';
import { accessRoutes, accessSubjects } from './access.js';
import { Headers } from './headers.js';
import { clusterSnapshot, metricsRoutes, metricsSubjects, telemetry } from './metrics.js';
import { orchestratorRoutes } from './orchestrator.js';
import { heartbeat, registryRoutes, registrySubjects } from './registry.js';
import type { Route } from './route.js';
import { pingRoutes } from './system.js';
import { queuedTask, taskOutcome, taskRoutes, TASKS_DLQ_STREAM, TASKS_STREAM } from './tasks.js';

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
  return subject.replace(/\.\*$/, '.node').replace(/[.-](\w)/g, (_m, c: string) => c.toUpperCase());
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
    ...Object.values(taskRoutes),
    ...Object.values(accessRoutes),
    ...Object.values(registryRoutes),
    ...Object.values(metricsRoutes),
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
      address: r.perNode ? `${r.subject.slice(0, -1)}{nodeId}` : r.subject,
      messages: { request: { $ref: `#/components/messages/${id}Request` } },
      description: r.description,
      ...(r.perNode ? { parameters: { nodeId: { description: "The node the request speaks for (only that node's NATS user may publish it)" } } } : {}),
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
  /** A subject services publish on (not request/reply): its message, channel and operation. */
  const published = (id: string, address: string, description: string, payload: z.ZodType, parameters: Json, summary: string, action: 'send' | 'receive' = 'send') => {
    const name = id.charAt(0).toUpperCase() + id.slice(1);
    messages[name] = { name, contentType: 'application/json', payload: schema(payload, 'input') };
    channels[id] = { address, description, parameters, messages: { [id]: { $ref: `#/components/messages/${name}` } } };
    operations[`${action}${name}`] = { action, channel: { $ref: `#/channels/${id}` }, summary };
  };
  published(
    'taskQueue',
    'flotilla.taskq.{clusterId}.{priority}.{capability}',
    `JetStream stream ${TASKS_STREAM} (work-queue retention): the tasks of a cluster, one durable pull consumer per (cluster, priority, capability); node agents pull high, normal and low 6:3:1. capability is _any for tasks that need none. Idle agents also hold a core subscription on flotilla.taskq.<clusterId>.> to wake when a task is queued.`,
    queuedTask,
    { clusterId: { description: 'The cluster the task is routed to' }, priority: { enum: ['high', 'normal', 'low'] }, capability: { description: 'The capability the task needs, or _any' } },
    'Tasks queued by the orchestrator for the node agents',
  );
  published(
    'taskDeadLetters',
    'flotilla.taskdlq.{clusterId}.{taskId}',
    `JetStream stream ${TASKS_DLQ_STREAM}: tasks that failed max_attempts times or could not be parsed.`,
    queuedTask,
    { clusterId: { description: 'The cluster' }, taskId: { description: 'The task id' } },
    'Dead letters',
  );
  published(
    'taskOutcomes',
    'flotilla.tasks.{clusterId}.{taskId}.{outcome}',
    'Core NATS: each attempt of a task that finished (final: false while retries remain). The orchestrator records them on the task and counts them toward the circuit breaker.',
    taskOutcome,
    { clusterId: { description: 'The cluster that ran it' }, taskId: { description: 'The task id' }, outcome: { enum: ['completed', 'failed'] } },
    'Task results, published by node agents',
  );
  published(
    'telemetry',
    metricsSubjects.telemetryAll.replace('*', '{nodeId}'),
    'Core NATS: what each node agent measured of its agents since the last report (states, tasks finished and their latencies), for the metrics service.',
    telemetry,
    { nodeId: { description: 'The node id' } },
    'Agent telemetry, published by node agents',
  );
  published(
    'snapshots',
    metricsSubjects.snapshots.replace('*', '{clusterId}'),
    "Core NATS: one snapshot per cluster per monitoring interval (queue, agents, workers, throughput, latency, error rate, CPU, health), the autoscaler's input.",
    clusterSnapshot,
    { clusterId: { description: 'The cluster id' } },
    'Cluster snapshots, published by the metrics service',
  );
  published(
    'apiKeyRevoked',
    accessSubjects.revoked,
    'Core NATS: an API key was revoked; every gateway drops it from its cache at once.',
    z.object({ key_id: z.string() }),
    {},
    'API key revocations, published by the orchestrator',
  );
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
