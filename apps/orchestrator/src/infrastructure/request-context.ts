import { randomUUID } from 'node:crypto';
import { type RequestIdentity, spansAllTenants } from '@flotilla/contracts';
import { UnauthenticatedError } from '@flotilla/domain';
import type { CommandContext } from '@flotilla/application';
import type { RequestMeta } from '@flotilla/messaging';

/**
 * Who asks: the request's identity headers (an end user's, which only the gateway may publish
 * on these routes, or a service's own, `SYSTEM_IDENTITY`). A request without them never acts as
 * the all-tenant system: Messaging refuses it before a handler runs, and this refuses it again.
 */
export function identityOf(meta: RequestMeta): RequestIdentity {
  if (!meta.identity) throw new UnauthenticatedError('a request without identity headers is refused', { subject: meta.subject });
  return meta.identity;
}

/**
 * The tenant that will own what the caller creates (a cluster, a blueprint): the only time the
 * caller's tenant decides an aggregate's. A caller spanning every tenant ('*') creates for the
 * 'default' tenant unless the gateway narrowed it (X-Flotilla-Tenant). Every event after that is
 * the aggregate's tenant's (Decider.tenantOf), whoever causes it.
 */
export function owningTenant(meta: RequestMeta): string {
  const tenantId = identityOf(meta).tenantId;
  return tenantId === '*' ? 'default' : tenantId;
}

/**
 * A command's context: who acts (the actor on every event), and the one tenant it may act in,
 * so that another tenant's aggregate is not found. Never the tenant its events are recorded as.
 */
export function commandContext(meta: RequestMeta, extra?: Record<string, unknown>): CommandContext {
  const identity = identityOf(meta);
  return {
    tenantScope: tenantScope(meta),
    actor: identity.actor,
    correlationId: meta.correlationId ?? randomUUID(),
    idempotencyKey: meta.idempotencyKey,
    extra: {
      ...(identity.sourceAddress ? { sourceAddress: identity.sourceAddress } : {}),
      ...extra,
    },
  };
}

/** Read queries are scoped to the caller's tenant; only admins see every tenant. */
export function tenantScope(meta: RequestMeta): string | undefined {
  const identity = identityOf(meta);
  return spansAllTenants(identity) ? undefined : identity.tenantId;
}

export const now = (): string => new Date().toISOString();
