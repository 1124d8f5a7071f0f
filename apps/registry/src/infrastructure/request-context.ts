import { identityOf } from '@flotilla/application';
import { actsForPlatform, spansAllTenants } from '@flotilla/contracts';
import { ForbiddenError } from '@flotilla/domain';
import type { RequestMeta } from '@flotilla/messaging';

export { commandContext, identityOf, systemContext } from '@flotilla/application';

/**
 * Fleet-wide operations (register, heartbeat, drain, cordon, uncordon or deregister a node, the
 * placement strategy, leadership, placement itself) are the platform's: a service, or an admin
 * of every tenant. The gateway checks it too; this is the owner's own check, so a request that
 * reaches the registry over NATS with a one-tenant identity is refused all the same.
 */
export function requirePlatform(meta: RequestMeta, operation: string): void {
  const identity = identityOf(meta);
  if (!actsForPlatform(identity)) {
    throw new ForbiddenError(`${identity.role} of tenant '${identity.tenantId}' may not ${operation} (needs the platform role: an admin of every tenant, tenant '*')`, {
      operation,
      role: identity.role,
      tenant_id: identity.tenantId,
      access: 'platform',
    });
  }
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
