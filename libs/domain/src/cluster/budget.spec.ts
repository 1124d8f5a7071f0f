import { describe, expect, it } from '@jest/globals';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import { fold } from '../decider.js';
import { RuleViolationError, ValidationError } from '../errors.js';
import { smallBlueprint } from '../testing/blueprints.js';
import { thrownBy } from '../testing/decider-spec.js';
import type { ClusterCommand } from './cluster.commands.js';
import { clusterDecider } from './cluster.decider.js';
import type { ClusterEvent } from './cluster.events.js';
import { activeBudgetActions, budgetHold } from './cluster.queries.js';
import { activeSmallCluster, clusterEvents } from './testing/cluster-events.js';

const NOW = '2026-03-01T10:00:00.000Z';
const DAY = '2026-03-01T00:00:00.000Z';
const base = smallBlueprint({ targetWorkers: 3 });
const blueprint = resolveBlueprint({
  ...base,
  cluster: {
    ...base.cluster,
    backupCluster: 'spare',
    pricing: { currency: 'EUR', agentHour: { default: 1 } },
    budgets: [
      { amount: 5, action: 'warn' },
      { amount: 10, action: 'scale_down' },
      { amount: 20, period: 'month', action: 'throttle' },
      { amount: 30, action: 'failover' },
    ],
  },
});
const ev = clusterEvents({ at: NOW, blueprint });
const active: ClusterEvent[] = activeSmallCluster(ev, 'spare');
const cross = (budget: number, spent: number, periodStart = DAY, now = NOW): ClusterCommand =>
  ({ type: 'RecordBudgetCrossing', data: { budget, periodStart, spent }, metadata: { now } }) as ClusterCommand;
const decide = (history: readonly ClusterEvent[], command: ClusterCommand) => clusterDecider.decide(command, fold(clusterDecider, history));

describe('budgets', () => {
  it("records a crossing with the budget's own figures, action and currency; a second report of it records nothing", () => {
    const events = decide(active, cross(0, 5.25));
    expect(events).toEqual([{ type: 'BudgetExceeded', data: { budget: 0, period: 'day', periodStart: DAY, amount: 5, spent: 5.25, currency: 'EUR', action: 'warn', at: NOW } }]);
    expect(decide([...active, ...events], cross(0, 6))).toEqual([]);
    expect(activeBudgetActions(fold(clusterDecider, [...active, ...events]), new Date(NOW)).get('warn')).toMatchObject({ spent: 5.25, amount: 5 });
  });

  it('scale_down scales to the minimum at once and holds the autoscaler (up and wake) for the rest of the period', () => {
    const events = decide(active, cross(1, 10));
    expect(events.map((e) => e.type)).toEqual(['BudgetExceeded', 'ClusterScalingStarted', 'AgentStopRequested', 'AgentStopRequested']);
    expect(events[1]!.data).toMatchObject({ from: 3, to: 1, direction: 'down', source: 'budget' });
    const state = fold(clusterDecider, [...active, ...events]);
    expect(budgetHold(state, 'up', new Date(NOW))).toMatch(/spent 10 EUR of its 10 EUR day budget/);
    expect(budgetHold(state, 'wake', new Date(NOW))).not.toBeNull();
    expect(budgetHold(state, 'down', new Date(NOW))).toBeNull();
    // The next day, the crossing has lapsed.
    expect(budgetHold(state, 'up', new Date('2026-03-02T00:00:01Z'))).toBeNull();
  });

  it('counts a monthly budget over the UTC month', () => {
    const events = decide(active, cross(2, 20, '2026-03-01T00:00:00Z'));
    expect(events[0]!.data).toMatchObject({ period: 'month', periodStart: '2026-03-01T00:00:00.000Z', action: 'throttle' });
    const state = fold(clusterDecider, [...active, ...events]);
    expect(activeBudgetActions(state, new Date('2026-03-31T23:00:00Z')).has('throttle')).toBe(true);
    expect(activeBudgetActions(state, new Date('2026-04-01T00:00:00Z')).has('throttle')).toBe(false);
  });

  it('refuses a spend below the amount, a period that is not the current one, and a budget the cluster does not have', () => {
    expect((thrownBy(() => decide(active, cross(0, 4.99))) as RuleViolationError).rule).toBe('budget_not_reached');
    expect((thrownBy(() => decide(active, cross(0, 6, '2026-02-28T00:00:00Z'))) as RuleViolationError).rule).toBe('budget_period_over');
    expect(thrownBy(() => decide(active, cross(7, 100)))).toBeInstanceOf(ValidationError);
  });

  it('a blueprint budget needs prices, and failover a backup cluster', () => {
    const noPrices = { ...base, cluster: { ...base.cluster, budgets: [{ amount: 1, action: 'failover' as const }] } };
    const issues = (thrownBy(() => resolveBlueprint(noPrices)) as ValidationError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(['cluster.budgets[0]', 'cluster.budgets[0].action']);
  });
});
