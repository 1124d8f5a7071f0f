import { describe, expect, it } from '@jest/globals';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import { fold } from '../decider.js';
import { RuleViolationError, ValidationError } from '../errors.js';
import { smallBlueprint } from '../testing/blueprints.js';
import { thrownBy } from '../testing/decider-spec.js';
import type { ClusterCommand } from '../cluster/cluster.commands.js';
import { clusterDecider } from '../cluster/cluster.decider.js';
import { activeBudgetActions, budgetHold, describeCrossing } from '../cluster/cluster.queries.js';
import { activeSmallCluster, clusterEvents } from '../cluster/testing/cluster-events.js';
import { tenantDecider, type TenantCommand, type TenantEvent } from './tenant-budgets.js';

const NOW = '2026-03-01T10:00:00.000Z';
const DAY = '2026-03-01T00:00:00.000Z';
const cmd = (type: TenantCommand['type'], data: Record<string, unknown>, now = NOW) => ({ type, data, metadata: { now } }) as TenantCommand;
const decide = (history: readonly TenantEvent[], command: TenantCommand) => tenantDecider.decide(command, fold(tenantDecider, history));
const set = (budgets: unknown[]) => cmd('SetTenantBudgets', { tenantId: 'acme', budgets, setBy: 'key_admin' });

describe('tenant budgets', () => {
  const given = decide([], set([{ amount: 50, currency: 'EUR', action: 'warn' }, { amount: 100, currency: 'EUR', period: 'month', action: 'throttle' }]));

  it('sets budgets with their defaults, and records a crossing once per period with the figures', () => {
    expect(given).toEqual([
      {
        type: 'TenantBudgetsSet',
        data: { tenantId: 'acme', setBy: 'key_admin', at: NOW, budgets: [{ amount: 50, currency: 'EUR', period: 'day', action: 'warn' }, { amount: 100, currency: 'EUR', period: 'month', action: 'throttle' }] },
      },
    ]);
    const crossed = decide(given, cmd('RecordTenantBudgetCrossing', { budget: 1, periodStart: '2026-03-01T00:00:00Z', spent: 101.5 }));
    expect(crossed).toEqual([{ type: 'TenantBudgetExceeded', data: { tenantId: 'acme', budget: 1, period: 'month', periodStart: DAY, amount: 100, spent: 101.5, currency: 'EUR', action: 'throttle', at: NOW } }]);
    expect(decide([...given, ...crossed], cmd('RecordTenantBudgetCrossing', { budget: 1, periodStart: DAY, spent: 120 }))).toEqual([]);
    // Setting the same budgets again records nothing.
    expect(decide(given, set([{ amount: 50, currency: 'EUR', action: 'warn' }, { amount: 100, currency: 'EUR', period: 'month', action: 'throttle' }]))).toEqual([]);
  });

  it('refuses failover, a ninth budget, a spend below the amount and a period that is over', () => {
    const issues = (thrownBy(() => decide([], set([{ amount: 1, action: 'failover' }, { amount: -1, action: 'warn' }]))) as ValidationError).issues;
    expect(issues.map((i) => i.path)).toEqual(['budgets[0].action', 'budgets[1].amount']);
    expect(issues[0]!.message).toMatch(/failover is a cluster budget's action/);
    expect(thrownBy(() => decide([], set(Array.from({ length: 9 }, () => ({ amount: 1, action: 'warn' })))))).toBeInstanceOf(ValidationError);
    expect((thrownBy(() => decide(given, cmd('RecordTenantBudgetCrossing', { budget: 0, periodStart: DAY, spent: 49 }))) as RuleViolationError).rule).toBe('budget_not_reached');
    expect((thrownBy(() => decide(given, cmd('RecordTenantBudgetCrossing', { budget: 0, periodStart: '2026-02-28T00:00:00Z', spent: 60 }))) as RuleViolationError).rule).toBe('budget_period_over');
  });

  it("a cluster takes its tenant's scale_down and throttle, once per period, apart from its own budgets", () => {
    const active = activeSmallCluster(clusterEvents({ at: NOW, blueprint: resolveBlueprint(smallBlueprint({ targetWorkers: 3 })) }));
    const apply = (action: string, budget = 0): ClusterCommand =>
      ({ type: 'ApplyTenantBudget', data: { budget, period: 'day', periodStart: DAY, amount: 50, spent: 55, currency: 'EUR', action }, metadata: { now: NOW } }) as ClusterCommand;
    const events = clusterDecider.decide(apply('scale_down'), fold(clusterDecider, active));
    expect(events.map((e) => e.type)).toEqual(['BudgetExceeded', 'ClusterScalingStarted', 'AgentStopRequested', 'AgentStopRequested']);
    expect(events[0]!.data).toMatchObject({ scope: 'tenant', budget: 0, action: 'scale_down' });
    expect(events[1]!.data).toMatchObject({ to: 1, source: 'budget', reason: expect.stringContaining("the tenant's day budget of 50 EUR") });
    const after = fold(clusterDecider, [...active, ...events]);
    expect(clusterDecider.decide(apply('scale_down'), after)).toEqual([]);
    expect(budgetHold(after, 'up', new Date(NOW))).toMatch(/^the cluster's tenant spent 55 EUR/);
    const throttled = fold(clusterDecider, [...active, ...events, ...clusterDecider.decide(apply('throttle', 1), after)]);
    expect(describeCrossing(activeBudgetActions(throttled, new Date(NOW)).get('throttle')!)).toMatch(/^the cluster's tenant spent 55 EUR of its 50 EUR day budget/);
    expect(Object.keys((throttled as { budgetCrossings: object }).budgetCrossings).sort()).toEqual(['tenant:0', 'tenant:1']);
  });
});
