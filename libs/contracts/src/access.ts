import { z } from 'zod';
import { ROLES } from '@flotilla/domain';
import { idOf, isoTime, page, sinceFilter } from './common.js';
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

/** An API key as clients send it: `flk.<key id>.<secret>` (Authorization: Bearer … or X-API-Key). */
export const API_KEY_PATTERN = /^flk\.([a-z0-9_-]+)\.([A-Za-z0-9_-]{20,})$/;

export const accessRoutes = {
  createKey: route(
    'orchestrator',
    'orchestrator.apikeys.create',
    z.strictObject({ tenant_id: tenant, role: z.enum(ROLES), name: z.string().min(1).max(100) }),
    z.object({ key: apiKeyView, secret: z.string() }),
    'Create an API key; its secret is in this reply only.',
  ),
  listKeys: route(
    'orchestrator',
    'orchestrator.apikeys.list',
    z.strictObject({ tenant_id: tenant.optional(), ...page }),
    z.object({ keys: z.array(apiKeyView), total: z.number() }),
    'List API keys (never their secrets).',
  ),
  revokeKey: route(
    'orchestrator',
    'orchestrator.apikeys.revoke',
    z.strictObject({ id: idOf('key'), reason: z.string().min(1).max(500).default('revoked') }),
    apiKeyView,
    'Revoke an API key.',
  ),
  verifyKey: route(
    'orchestrator',
    'orchestrator.apikeys.verify',
    z.strictObject({ token: z.string().min(1).max(500) }),
    z.object({ key_id: z.string(), tenant_id: z.string(), role: z.enum(ROLES), name: z.string() }),
    'Check an API key (gateway only); an unknown, malformed or revoked key is unauthenticated.',
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
  ),
} as const;

/** Core NATS: the orchestrator announces revocations so gateways drop cached keys at once. */
export const accessSubjects = { revoked: 'orchestrator.apikeys.revoked' } as const;
