import type { AppendFence } from '@flotilla/eventstore';
import { randomUUID } from 'node:crypto';
import type { CommandContext } from '@flotilla/application';
import { actsForPlatform, spansAllTenants, type RequestIdentity } from '@flotilla/contracts';
import { ForbiddenError, UnauthenticatedError } from '@flotilla/domain';
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
 * A command's context: who acts (the actor on every event) and, for a caller of one tenant, that
 * tenant (another tenant's aggregate is not found). The tenant events are recorded as is the
 * aggregate's own (Decider.tenantOf): the platform's for a shared node's lifecycle, the cluster's
 * for an agent's assignment, never the caller's.
 */
export function commandContext(meta: RequestMeta, extra?: Record<string, unknown>): CommandContext {
  const identity = identityOf(meta);
  return {
    tenantScope: spansAllTenants(identity) ? undefined : identity.tenantId,
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
/** A loop of the registry's own acting; with a fence, a singleton leader's write checked in its append's transaction. */
export function systemContext(actor: string, fence?: AppendFence): CommandContext {
  return {
    actor,
    correlationId: randomUUID(),
    ...(fence ? { fence } : {}),
  };
}

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
