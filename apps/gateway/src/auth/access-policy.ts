import type { RequestIdentity } from '@flotilla/contracts';
import { ForbiddenError } from '@flotilla/domain';
import type { Access } from '../rest/rest-routes.js';

/** Which roles may do what. Every REST route and gRPC method names one of these in its table entry. */
export const ROLES_FOR: Readonly<Record<Access, readonly RequestIdentity['role'][]>> = {
  read: ['viewer', 'operator', 'admin'],
  write: ['operator', 'admin'],
  admin: ['admin'],
};

export function authorize(identity: RequestIdentity, access: Access, operation: string): void {
  if (!ROLES_FOR[access].includes(identity.role)) {
    throw new ForbiddenError(`role '${identity.role}' may not ${operation} (needs ${ROLES_FOR[access].join(' or ')})`, { operation, role: identity.role, access });
  }
}
