import { actsForPlatform, type RequestIdentity } from '@flotilla/contracts';
import { ForbiddenError } from '@flotilla/domain';
import type { Access } from '@flotilla/contracts';

/** Which roles may do what. Every route names one of these (`Route.access` in the contracts). */
export const ROLES_FOR: Readonly<Record<Access, readonly RequestIdentity['role'][]>> = {
  read: ['viewer', 'operator', 'admin'],
  write: ['operator', 'admin'],
  admin: ['admin'],
  // ...and the identity spans every tenant (tenant '*'): see actsForPlatform.
  platform: ['admin'],
  // Services and node agents call these over NATS with their own users; no API key reaches them.
  service: [],
};

/** What the 403 of each access level says a caller needs. */
export const NEEDS: Readonly<Record<Access, string>> = {
  read: 'viewer, operator or admin',
  write: 'operator or admin',
  admin: 'admin',
  platform: "the platform role (an admin of every tenant, tenant '*')",
  service: 'a service identity (not callable through the gateway)',
};

export function authorize(identity: RequestIdentity, access: Access, operation: string): void {
  const allowed = ROLES_FOR[access].includes(identity.role) && (access !== 'platform' || actsForPlatform(identity));
  if (!allowed) {
    throw new ForbiddenError(`${identity.role} of tenant '${identity.tenantId}' may not ${operation} (needs ${NEEDS[access]})`, {
      operation,
      role: identity.role,
      tenant_id: identity.tenantId,
      access,
    });
  }
}
