import { randomUUID } from 'node:crypto';
import type { CommandContext } from '@flotilla/application';
import { SYSTEM_IDENTITY, spansAllTenants, type RequestIdentity } from '@flotilla/contracts';
import type { RequestMeta } from '@flotilla/messaging';

/** Who asks (from the gateway's headers), or the system itself for internal calls. */
export function identityOf(meta: RequestMeta): RequestIdentity {
  return meta.identity ?? SYSTEM_IDENTITY;
}

export function commandContext(meta: RequestMeta, extra?: Record<string, unknown>): CommandContext {
  const identity = identityOf(meta);
  return {
    // A caller spanning every tenant ('*') acts for the default tenant, as in the orchestrator.
    tenantId: identity.tenantId === '*' ? SYSTEM_IDENTITY.tenantId : identity.tenantId,
    actor: identity.actor,
    correlationId: meta.correlationId ?? randomUUID(),
    idempotencyKey: meta.idempotencyKey,
    extra: {
      ...(identity.sourceAddress ? { sourceAddress: identity.sourceAddress } : {}),
      ...extra,
    },
  };
}

/** A command issued by one of the registry's own loops (failure detector, placement, ...). */
export function systemContext(actor: string, extra?: Record<string, unknown>): CommandContext {
  return {
    tenantId: SYSTEM_IDENTITY.tenantId,
    actor,
    correlationId: randomUUID(),
    extra: { ...extra },
  };
}

/**
 * Nodes without a tenant are shared; a tenant sees those and its own. Only an identity spanning
 * every tenant (an admin granted '*', or a service) sees the others': an admin of one tenant is
 * still of one tenant.
 */
export function visibleTo(meta: RequestMeta, tenantId: string | null): boolean {
  const identity = identityOf(meta);
  return spansAllTenants(identity) || tenantId === null || tenantId === identity.tenantId;
}

export const nowIso = (): string => new Date().toISOString();
