import { PLATFORM_TENANT } from '@flotilla/domain';

/** NATS header names Flotilla sets on requests (besides the W3C `traceparent`/`tracestate`). */
export const Headers = {
  actor: 'Flotilla-Actor',
  tenant: 'Flotilla-Tenant',
  role: 'Flotilla-Role',
  correlationId: 'Flotilla-Correlation-Id',
  idempotencyKey: 'Idempotency-Key',
  sourceAddress: 'Flotilla-Source-Address',
} as const;

/** Who is asking, carried from the gateway (or another service) into every command. */
export interface RequestIdentity {
  readonly actor: string;
  readonly tenantId: string;
  readonly role: 'admin' | 'operator' | 'viewer' | 'service';
  readonly sourceAddress?: string;
}

export const SYSTEM_IDENTITY: RequestIdentity = {
  actor: 'system',
  tenantId: 'default',
  role: 'service',
};

/**
 * Who acts when a node agent speaks for its own node on a per-node subject
 * (`registry.nodes.register.<nodeId>`, `orchestrator.agents.report.<nodeId>`): the node, known
 * from the subject that only its NATS user may publish, never from a header or the payload.
 */
export function nodeIdentity(nodeId: string): RequestIdentity {
  return { actor: `node-agent:${nodeId}`, tenantId: PLATFORM_TENANT, role: 'service' };
}

/**
 * The tenant of identities that span every tenant, and the owner of what belongs to the fleet
 * rather than to one tenant (nodes' lifecycle, the placement strategy, leadership).
 */
export { PLATFORM_TENANT };

/** Whether an identity may see every tenant: an admin granted '*', or a service itself. */
export function spansAllTenants(identity: RequestIdentity): boolean {
  return identity.tenantId === PLATFORM_TENANT || identity.role === 'service';
}

/**
 * Whether an identity may run fleet-wide operations (register, heartbeat, drain, cordon or
 * deregister a shared node, switch the placement strategy, hand leadership over): a service
 * itself, or an admin of every tenant. An admin of one tenant may not: nodes are shared.
 */
export function actsForPlatform(identity: RequestIdentity): boolean {
  return identity.role === 'service' || (identity.tenantId === PLATFORM_TENANT && identity.role === 'admin');
}
