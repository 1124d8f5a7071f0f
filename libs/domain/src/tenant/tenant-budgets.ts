import { z } from 'zod';
import { BUDGET_PERIODS } from '../blueprint/blueprint.schema.js';
import { formatPath } from '../blueprint/blueprint.validate.js';
import { checkCrossing } from '../cost/cost.js';
import { commandNow, type Command, type Decider, type Event } from '../decider.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { isValidId } from '../ids.js';
import type { BudgetCrossing } from '../cluster/cluster.state.js';

/**
 * A tenant's budgets (stream `tenant-<id>`): a spend per UTC day or month across all of the
 * tenant's clusters, in one currency, with the action taken when it is reached. `warn` records it;
 * `throttle` refuses the task submissions of every cluster of the tenant with 429; `scale_down`
 * scales every one of them to its minimum and holds the autoscaler; each until the period ends.
 * (Failing over is a cluster budget's action: a tenant's backup clusters are its own, and their
 * spend is the same tenant's.)
 */

export const TENANT_BUDGET_ACTIONS = ['warn', 'throttle', 'scale_down'] as const;
export type TenantBudgetAction = (typeof TENANT_BUDGET_ACTIONS)[number];

export const TenantBudgetSchema = z.strictObject({
  amount: z.number().positive().max(1_000_000_000),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, { error: "expected an ISO 4217 currency code such as 'USD'" })
    .default('USD'),
  period: z.enum(BUDGET_PERIODS).default('day'),
  action: z.enum(TENANT_BUDGET_ACTIONS, {
    error: (issue) =>
      issue.input === 'failover'
        ? "failover is a cluster budget's action (a tenant's backup clusters spend the same tenant's money); expected warn, throttle or scale_down"
        : 'expected warn, throttle or scale_down',
  }),
});
export type TenantBudget = z.output<typeof TenantBudgetSchema>;
export const TENANT_BUDGETS_MAX = 8;

export type SetTenantBudgets = Command<'SetTenantBudgets', { readonly tenantId: string; readonly budgets: readonly unknown[]; readonly setBy: string }>;
export type RecordTenantBudgetCrossing = Command<'RecordTenantBudgetCrossing', { readonly budget: number; readonly periodStart: string; readonly spent: number }>;
export type TenantCommand = SetTenantBudgets | RecordTenantBudgetCrossing;

type At = { readonly at: string };
export type TenantBudgetsSet = Event<'TenantBudgetsSet', At & { readonly tenantId: string; readonly budgets: readonly TenantBudget[]; readonly setBy: string }>;
export type TenantBudgetExceeded = Event<'TenantBudgetExceeded', BudgetCrossing & { readonly tenantId: string; readonly budget: number }>;
export type TenantEvent = TenantBudgetsSet | TenantBudgetExceeded;
export const TENANT_EVENT_TYPES = ['TenantBudgetsSet', 'TenantBudgetExceeded'] as const;

export type TenantState =
  | { readonly status: 'none' }
  | {
      readonly status: 'active';
      readonly tenantId: string;
      readonly budgets: readonly TenantBudget[];
      /** The last crossing of each budget, by its index. */
      readonly crossings: Readonly<Record<string, BudgetCrossing>>;
      readonly updatedAt: string;
    };

export const tenantStream = (tenantId: string): string => `tenant-${tenantId}`;

function parseBudgets(raw: readonly unknown[]): TenantBudget[] {
  const parsed = z.array(TenantBudgetSchema).max(TENANT_BUDGETS_MAX, `expected at most ${TENANT_BUDGETS_MAX} budgets`).safeParse(raw);
  if (!parsed.success) throw ValidationError.of(parsed.error.issues.map((i) => ({ path: formatPath(['budgets', ...i.path]), message: i.message })), 'tenant budgets');
  return parsed.data;
}

export function decide(command: TenantCommand, state: TenantState): readonly TenantEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'SetTenantBudgets': {
      const { tenantId, setBy } = command.data;
      if (!isValidId('tenant', tenantId)) throw ValidationError.of([{ path: 'tenant_id', message: 'expected a tenant id' }], 'tenant budgets');
      const budgets = parseBudgets(command.data.budgets);
      if (state.status === 'active' && JSON.stringify(state.budgets) === JSON.stringify(budgets)) return [];
      return [{ type: 'TenantBudgetsSet', data: { tenantId, budgets, setBy, at } }];
    }
    case 'RecordTenantBudgetCrossing': {
      if (state.status === 'none') throw new NotFoundError('the tenant has no budgets', { kind: 'tenant_budgets' });
      const { budget: index, spent } = command.data;
      const budget = state.budgets[index];
      if (!budget) throw ValidationError.of([{ path: 'budget', message: `the tenant has no budget #${index} (it has ${state.budgets.length})` }], 'command');
      const current = checkCrossing(`tenant budget #${index}`, index, budget, command.data, at);
      const last = state.crossings[String(index)];
      if (last?.periodStart === current && last.amount === budget.amount && last.action === budget.action) return [];
      const { amount, currency, period, action } = budget;
      return [{ type: 'TenantBudgetExceeded', data: { tenantId: state.tenantId, budget: index, period, periodStart: current, amount, spent, currency, action, at } }];
    }
    default: {
      const unknown: never = command;
      throw ValidationError.of([{ path: 'type', message: `unknown command ${JSON.stringify((unknown as { type: string }).type)}` }]);
    }
  }
}

export function evolve(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'TenantBudgetsSet': {
      const { tenantId, budgets, at } = event.data;
      // New budgets start with no crossings: a lowered amount is checked afresh.
      return { status: 'active', tenantId, budgets, crossings: {}, updatedAt: at };
    }
    case 'TenantBudgetExceeded': {
      if (state.status === 'none') return state;
      const { budget, tenantId: _tenant, ...crossing } = event.data;
      return { ...state, crossings: { ...state.crossings, [String(budget)]: crossing }, updatedAt: event.data.at };
    }
    default:
      return state;
  }
}

export const initialState = (): TenantState => ({ status: 'none' });
export const tenantOf = (state: TenantState): string | null => (state.status === 'none' ? null : state.tenantId);
export const tenantDecider: Decider<TenantState, TenantCommand, TenantEvent> = { decide, evolve, initialState, tenantOf };
