import type { RequestMeta } from '@flotilla/messaging';
import { identityOf } from '@flotilla/application';

export { commandContext, identityOf, tenantScope } from '@flotilla/application';

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

export const now = (): string => new Date().toISOString();
