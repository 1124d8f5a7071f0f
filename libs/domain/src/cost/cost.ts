import type { AgentRole, RuntimeKind } from '../blueprint/blueprint.schema.js';
import type { ModelPrice, ResolvedPricing } from '../blueprint/blueprint.types.js';
import { RuleViolationError } from '../errors.js';
import type { JsonValue } from '../json.js';

/** Token usage of one attempt, as the endpoint reported it. */
export interface TokenUsage {
  readonly input: number;
  readonly output: number;
}

/** The prices one agent runs at: its agent-hour price and the token prices of the models it may call. */
export interface AgentPricing {
  readonly currency: string;
  readonly agentHour: number;
  readonly models: Readonly<Record<string, ModelPrice>>;
}

/** Costs are kept to 1e-9 of the currency unit: enough for a thousandth of a cent per token. */
export const roundCost = (x: number): number => Math.round(x * 1e9) / 1e9;

/** An agent's price per hour: by its role, else by its runtime kind, else the default. */
export function agentHourPrice(pricing: ResolvedPricing | undefined, role: AgentRole, runtime: RuntimeKind): number {
  if (!pricing) return 0;
  return pricing.agentHour.roles[role] ?? pricing.agentHour.runtimes[runtime] ?? pricing.agentHour.default;
}

/** What an agent of this role and runtime carries to its node: the prices its attempts are costed at. */
export function agentPricing(pricing: ResolvedPricing | undefined, role: AgentRole, runtime: RuntimeKind): AgentPricing | undefined {
  if (!pricing) return undefined;
  return { currency: pricing.currency, agentHour: agentHourPrice(pricing, role, runtime), models: pricing.models };
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);

/**
 * The token usage a result reports: OpenAI's `usage {prompt_tokens, completion_tokens}` (what the
 * `openai` runtime returns, and what an `http` endpoint may answer), or `usage {input_tokens,
 * output_tokens}` (the Responses and Anthropic shape). Null when the result reports none.
 */
export function tokenUsageOf(result: JsonValue | undefined): TokenUsage | null {
  const usage = objectOf(objectOf(result)?.['usage']);
  if (!usage) return null;
  const input = count(usage['prompt_tokens']) ?? count(usage['input_tokens']);
  const output = count(usage['completion_tokens']) ?? count(usage['output_tokens']);
  if (input === undefined && output === undefined) return null;
  return { input: input ?? 0, output: output ?? 0 };
}

/** The model a result names (`model`), else the one the runtime was configured with. */
export function modelOf(result: JsonValue | undefined, configured: string | null): string | null {
  const model = objectOf(result)?.['model'];
  return typeof model === 'string' && model !== '' ? model : configured;
}

function objectOf(v: JsonValue | undefined): { readonly [key: string]: JsonValue } | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as { readonly [key: string]: JsonValue }) : undefined;
}

/** What the tokens cost at the model's price; 0 for a model the pricing does not name. */
export function tokenCost(usage: TokenUsage, price: ModelPrice | undefined): number {
  if (!price) return 0;
  return roundCost((usage.input / 1000) * price.inputPer1k + (usage.output / 1000) * price.outputPer1k);
}

/** What `seconds` of an agent cost at `perHour`. */
export function agentSecondsCost(seconds: number, perHour: number): number {
  return roundCost((Math.max(0, seconds) / 3600) * perHour);
}

export type BudgetPeriod = 'day' | 'month';

/** The UTC day or month holding `at`, as [from, to). */
export function periodOf(period: BudgetPeriod, at: Date): { from: Date; to: Date } {
  const from = periodStart(period, at);
  const to = period === 'day' ? new Date(from.getTime() + 86_400_000) : new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + 1, 1));
  return { from, to };
}

/** The start of the UTC day or month holding `at`. */
export function periodStart(period: BudgetPeriod, at: Date): Date {
  return period === 'day'
    ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()))
    : new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/**
 * A reported budget crossing checked against the budget (`label` names it: `budget #1`, `tenant
 * budget #0`): the period reported must be the current one, and the spend (when the report gives
 * it) at least the amount. Returns the current period's start (ISO).
 */
export function checkCrossing(label: string, index: number, budget: { readonly period: BudgetPeriod; readonly amount: number }, reported: { readonly periodStart: string; readonly spent?: number }, at: string): string {
  const current = periodStart(budget.period, new Date(at)).toISOString();
  if (new Date(reported.periodStart).toISOString() !== current)
    throw new RuleViolationError('budget_period_over', `${label} counts the ${budget.period} starting ${current}, not ${reported.periodStart}`, { budget: index, period_start: current });
  if (reported.spent !== undefined && reported.spent < budget.amount)
    throw new RuleViolationError('budget_not_reached', `${label} is ${budget.amount}; ${reported.spent} is below it`, { budget: index, amount: budget.amount, spent: reported.spent });
  return current;
}
