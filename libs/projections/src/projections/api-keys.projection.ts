import { ApiKeyEntity, type ApiKeyRow } from '../entities.js';
import { defineProjection, eventTime } from '../projection.js';

/** API keys: who they belong to, their role, and the hash of their secret (never the secret). */
export const apiKeysProjection = defineProjection<ApiKeyRow>({
  name: 'api_keys',
  entity: ApiKeyEntity,
  primaryKey: 'id',
  handles: new Set(['ApiKeyCreated', 'ApiKeyRevoked']),
  keyOf: (e) => (e.streamId.startsWith('apikey-') ? String(e.data['keyId']) : null),
  evolve(row, e) {
    const d = e.data;
    if (e.type === 'ApiKeyCreated') {
      return {
        id: String(d['keyId']),
        tenantId: String(d['tenantId']),
        role: String(d['role']),
        name: String(d['name']),
        secretHash: String(d['secretHash']),
        createdBy: String(d['createdBy']),
        createdAt: eventTime(e),
        revokedAt: null,
        revokedReason: null,
        position: e.position.toString(),
      } as ApiKeyRow;
    }
    return row && { ...row, revokedAt: eventTime(e), revokedReason: String(d['reason'] ?? ''), position: e.position.toString() };
  },
});
