import type { StoredEvent } from '@flotilla/eventstore';
import { BlueprintEntity, BlueprintVersionEntity, type BlueprintRow, type BlueprintVersionRow } from '../entities.js';
import { defineProjection, eventTime } from '../projection.js';

type D = Record<string, unknown>;
const isBlueprint = (e: StoredEvent) => e.streamId.startsWith('blueprint-');

/** One row per blueprint: its latest version and status. */
export const blueprintsProjection = defineProjection<BlueprintRow>({
  name: 'cluster_blueprints',
  entity: BlueprintEntity,
  primaryKey: 'id',
  handles: new Set(['BlueprintRegistered', 'BlueprintVersionPublished', 'BlueprintDeprecated']),
  keyOf: (e) => (isBlueprint(e) ? String(e.data['blueprintId']) : null),
  evolve(row, e) {
    const d = e.data as D;
    const at = eventTime(e);
    const position = e.position.toString();
    switch (e.type) {
      case 'BlueprintRegistered':
        return {
          id: String(d['blueprintId']),
          tenantId: String(d['tenantId'] ?? e.metadata.tenantId),
          name: String(d['name']),
          latestVersion: String(d['version']),
          latestHash: String(d['hash']),
          status: 'active',
          deprecationReason: null,
          createdAt: at,
          updatedAt: at,
          position,
        } as BlueprintRow;
      case 'BlueprintVersionPublished':
        return row && { ...row, name: String(d['name']), latestVersion: String(d['version']), latestHash: String(d['hash']), updatedAt: at, position };
      case 'BlueprintDeprecated':
        return row && { ...row, status: 'deprecated', deprecationReason: String(d['reason'] ?? ''), updatedAt: at, position };
      default:
        return row;
    }
  },
});

/** Every version of every blueprint, with its document. */
export const blueprintVersionsProjection = defineProjection<BlueprintVersionRow>({
  name: 'cluster_blueprint_versions',
  entity: BlueprintVersionEntity,
  primaryKey: 'id',
  handles: new Set(['BlueprintRegistered', 'BlueprintVersionPublished']),
  keyOf: (e) => (isBlueprint(e) ? `${String(e.data['blueprintId'])}@${String(e.data['version'])}` : null),
  evolve(_row, e) {
    const d = e.data as D;
    return {
      id: `${String(d['blueprintId'])}@${String(d['version'])}`,
      blueprintId: String(d['blueprintId']),
      tenantId: String(e.metadata.tenantId),
      version: String(d['version']),
      hash: String(d['hash']),
      document: (d['document'] ?? {}) as Record<string, unknown>,
      createdAt: eventTime(e),
      position: e.position.toString(),
    } as BlueprintVersionRow;
  },
});
