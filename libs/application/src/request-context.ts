import { randomUUID } from 'node:crypto';
import { spansAllTenants, type RequestIdentity } from '@flotilla/contracts';
import { UnauthenticatedError } from '@flotilla/domain';
import type { AppendFence } from '@flotilla/eventstore';
import type { RequestMeta } from '@flotilla/messaging';
import type { CommandContext } from './command-handler.js';

/**
 * Who asks: the request's identity headers (an end user's, which only the gateway may publish
 * on the routes that take them, or a service's own, `SYSTEM_IDENTITY`). A request without them
 * never acts as the all-tenant system: Messaging refuses it before a handler runs, and this
 * refuses it again.
 */
export function identityOf(meta: RequestMeta): RequestIdentity {
  if (!meta.identity) throw new UnauthenticatedError('a request without identity headers is refused', { subject: meta.subject });
  return meta.identity;
}

/** The one tenant a caller may read and act in; none for a caller spanning every tenant. */
export function tenantScope(meta: RequestMeta): string | undefined {
  const identity = identityOf(meta);
  return spansAllTenants(identity) ? undefined : identity.tenantId;
}

/**
 * A command's context: who acts (the actor on every event) and, for a caller of one tenant, that
 * tenant, so another tenant's aggregate is not found. Never the tenant its events are recorded
 * as: that is the aggregate's own (Decider.tenantOf), whoever causes them.
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

/** A service's own loop acting; with a fence, a singleton leader's write is checked in its append's transaction. */
export function systemContext(actor: string, fence?: AppendFence): CommandContext {
  return { actor, correlationId: randomUUID(), ...(fence ? { fence } : {}) };
}
