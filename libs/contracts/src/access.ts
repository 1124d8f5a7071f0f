import { z } from 'zod';
import { ROLES } from '@flotilla/domain';
import { idOf, isoTime, page, position, sinceFilter } from './common.js';
import { eventView } from './orchestrator.js';
import { route } from './route.js';

export const apiKeyView = z.object({
  id: z.string(),
  tenant_id: z.string(),
  role: z.enum(ROLES),
  name: z.string(),
  created_by: z.string(),
  created_at: isoTime,
  revoked_at: isoTime.nullable(),
});
export type ApiKeyView = z.infer<typeof apiKeyView>;

const tenant = z.union([z.literal('*'), idOf('tenant')]);

/** An event as SSE, gRPC WatchEvents and NATS carry it: snake_case, position a decimal string. */
export const eventMessage = z.object({
  id: z.string(),
  type: z.string(),
  stream: z.string(),
  aggregate: z.string(),
  aggregate_id: z.string(),
  /** Its revision in its stream; -1 for an event projected before the read model kept it. */
  revision: z.number(),
  position,
  occurred_at: isoTime,
  data: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()),
});
export type EventMessageDto = z.infer<typeof eventMessage>;

/** An API key as clients send it: `flk.<key id>.<secret>` (Authorization: Bearer … or X-API-Key). */
export const API_KEY_PATTERN = /^flk\.([a-z0-9_-]+)\.([A-Za-z0-9_-]{20,})$/;

export const accessRoutes = {
  createKey: route(
    'orchestrator',
    'orchestrator.apikeys.create',
    z.strictObject({ tenant_id: tenant, role: z.enum(ROLES), name: z.string().min(1).max(100) }),
    z.object({ key: apiKeyView, secret: z.string() }),
    'Create an API key; its secret is in this reply only.',
    'admin',
  ),
  listKeys: route(
    'orchestrator',
    'orchestrator.apikeys.list',
    z.strictObject({ tenant_id: tenant.optional(), ...page }),
    z.object({ keys: z.array(apiKeyView), total: z.number() }),
    'List API keys (never their secrets).',
    'admin',
  ),
  revokeKey: route(
    'orchestrator',
    'orchestrator.apikeys.revoke',
    z.strictObject({ id: idOf('key'), reason: z.string().min(1).max(500).default('revoked') }),
    apiKeyView,
    'Revoke an API key.',
    'admin',
  ),
  verifyKey: route(
    'orchestrator',
    'orchestrator.apikeys.verify',
    z.strictObject({ token: z.string().min(1).max(500) }),
    z.object({ key_id: z.string(), tenant_id: z.string(), role: z.enum(ROLES), name: z.string() }),
    'Check an API key (gateway only); an unknown, malformed or revoked key is unauthenticated.',
    'service',
  ),
  audit: route(
    'orchestrator',
    'orchestrator.audit.list',
    z.strictObject({
      actor: z.string().optional(),
      cluster: z.string().optional(),
      tenant_id: z.string().optional(),
      type: z.string().optional(),
      since: sinceFilter,
      ...page,
      limit: z.coerce.number().int().min(1).max(5000).default(200),
    }),
    z.object({ events: z.array(eventView), total: z.number() }),
    'The audit trail: who changed what, from the event log.',
    'admin',
  ),
  eventHistory: route(
    'orchestrator',
    'orchestrator.events.history',
    z.strictObject({
      /** Exclusive: events after this log position. */
      after: position,
      /** Inclusive: events up to this log position. */
      until: position,
      cluster_id: idOf('cluster').optional(),
      node_id: idOf('node').optional(),
      aggregate: z.enum(['cluster', 'node', 'blueprint']).optional(),
      types: z.array(z.string().min(1).max(100)).max(50).optional(),
      limit: z.number().int().min(1).max(1000).default(500),
    }),
    z.object({
      events: z.array(eventMessage),
      /** How far the event read model has got: events up to here are all in it. */
      checkpoint: position,
    }),
    "The caller's tenant's events between two log positions, oldest first, from the event read model (gateway only: SSE and gRPC WatchEvents replay history through it).",
    'service',
  ),
} as const;

/** Core NATS: the orchestrator announces revocations so gateways drop cached keys at once. */
export const accessSubjects = { revoked: 'orchestrator.apikeys.revoked' } as const;
