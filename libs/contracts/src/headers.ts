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

/** Whether an identity may see every tenant: an admin granted '*', or a service itself. */
export function spansAllTenants(identity: RequestIdentity): boolean {
  return identity.tenantId === '*' || identity.role === 'service';
}
