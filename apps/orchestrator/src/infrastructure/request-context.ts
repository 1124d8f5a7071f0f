import { randomUUID } from 'node:crypto';
import { SYSTEM_IDENTITY, type RequestIdentity, spansAllTenants } from '@flotilla/contracts';
import type { CommandContext } from '@flotilla/application';
import type { RequestMeta } from '@flotilla/messaging';

/** Who asks (from the gateway's headers), or the system itself for internal calls. */
export function identityOf(meta: RequestMeta): RequestIdentity {
  return meta.identity ?? SYSTEM_IDENTITY;
}

/**
 * The tenant that owns what the caller creates. A caller spanning every tenant ('*') acts for
 * the 'default' tenant unless the gateway narrowed it (X-Flotilla-Tenant).
 */
export function owningTenant(meta: RequestMeta): string {
  const tenantId = identityOf(meta).tenantId;
  return tenantId === '*' ? 'default' : tenantId;
}

export function commandContext(meta: RequestMeta, extra?: Record<string, unknown>): CommandContext {
  const identity = identityOf(meta);
  return {
    tenantId: owningTenant(meta),
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
