import { TenantBudgetsEntity, type TenantBudgetsRow } from '../entities.js';
import { defineProjection, eventTime } from '../projection.js';

/** Each tenant's budgets and the last crossing of each (what the metrics service's budget watch checks). */
export const tenantBudgetsProjection = defineProjection<TenantBudgetsRow>({
  name: 'tenant_budgets',
  entity: TenantBudgetsEntity,
  primaryKey: 'tenantId',
  handles: new Set(['TenantBudgetsSet', 'TenantBudgetExceeded']),
  keyOf: (e) => (e.streamId.startsWith('tenant-') ? String(e.data['tenantId']) : null),
  evolve(row, e) {
    const d = e.data;
    const stamp = { updatedAt: eventTime(e), position: e.position.toString() };
    if (e.type === 'TenantBudgetsSet') {
      return { tenantId: String(d['tenantId']), budgets: (d['budgets'] ?? []) as Record<string, unknown>[], crossings: {}, ...stamp } as TenantBudgetsRow;
    }
    if (!row) return null;
    const { budget, tenantId: _tenant, ...crossing } = d;
    return { ...row, crossings: { ...row.crossings, [String(budget)]: crossing }, ...stamp };
  },
});
