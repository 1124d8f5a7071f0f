import { describe, expect, it } from '@jest/globals';
import { UnauthenticatedError } from '@flotilla/domain';
import type { RequestMeta } from '@flotilla/messaging';
import { commandContext, identityOf, tenantScope } from './request-context.js';

const meta = (identity: RequestMeta['identity']): RequestMeta => ({
  subject: 'flotilla.orchestrator.clusters.scale',
  identity,
  correlationId: 'corr-1',
  idempotencyKey: 'idem-1',
  traceparent: undefined,
});

describe('who asks comes from the request identity, never from a default', () => {
  it('refuses a request without identity headers instead of serving it as the all-tenant system', () => {
    expect(() => identityOf(meta(undefined))).toThrow(UnauthenticatedError);
    expect(() => commandContext(meta(undefined))).toThrow(UnauthenticatedError);
  });

  it("scopes a one-tenant caller to its tenant, and neither a platform admin nor a service", () => {
    expect(tenantScope(meta({ actor: 'alice', tenantId: 'acme', role: 'operator' }))).toBe('acme');
    expect(tenantScope(meta({ actor: 'root', tenantId: '*', role: 'admin' }))).toBeUndefined();
    expect(tenantScope(meta({ actor: 'registry', tenantId: 'default', role: 'service' }))).toBeUndefined();
  });

  it("a command's context names the actor, the caller's scope, correlation and idempotency key, and the source address", () => {
    const ctx = commandContext(meta({ actor: 'alice', tenantId: 'acme', role: 'operator', sourceAddress: '127.0.0.1' }), { reason: 'x' });
    expect(ctx).toEqual({
      tenantScope: 'acme',
      actor: 'alice',
      correlationId: 'corr-1',
      idempotencyKey: 'idem-1',
      extra: { sourceAddress: '127.0.0.1', reason: 'x' },
    });
  });
});
