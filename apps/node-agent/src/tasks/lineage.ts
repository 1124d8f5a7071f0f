import type { TaskAttempt } from '@flotilla/contracts';
import { modelOf, tokenCost, tokenUsageOf, type AgentSpec, type JsonValue } from '@flotilla/domain';

/** What the attempt's agent ran and where it sent the work. */
function endpointOf(spec: AgentSpec): { endpoint: string; configuredModel: string | null } {
  const r = spec.runtime;
  switch (r.kind) {
    case 'builtin':
      return { endpoint: `builtin:${r.handler}`, configuredModel: null };
    case 'http':
      return { endpoint: r.url, configuredModel: null };
    case 'openai':
      return { endpoint: `${r.baseUrl.replace(/\/+$/, '')}/chat/completions`, configuredModel: r.model };
  }
}

/**
 * One attempt as the task's lineage records it: the agent's spec hash and blueprint version (from
 * its assignment), the runtime and endpoint, the duration, and, for a completed attempt, the
 * tokens its result reports and what they cost at its model's price.
 */
export function attemptOf(a: {
  attempt: number;
  agentId: string;
  nodeId: string;
  spec: AgentSpec;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  result?: JsonValue;
  error?: string | null;
}): TaskAttempt {
  const { endpoint, configuredModel } = endpointOf(a.spec);
  const model = a.result === undefined ? configuredModel : modelOf(a.result, configuredModel);
  const tokens = a.result === undefined ? null : tokenUsageOf(a.result);
  const price = model ? a.spec.pricing?.models[model] : undefined;
  return {
    attempt: a.attempt,
    agent_id: a.agentId,
    node_id: a.nodeId,
    spec_hash: a.spec.lineage?.specHash ?? null,
    blueprint_version: a.spec.lineage?.blueprintVersion ?? null,
    runtime: a.spec.runtime.kind,
    endpoint,
    model,
    started_at: a.startedAt,
    finished_at: a.finishedAt,
    duration_ms: Math.round(a.durationMs),
    tokens,
    cost: tokens ? tokenCost(tokens, price) : 0,
    currency: a.spec.pricing?.currency ?? null,
    outcome: a.error === undefined || a.error === null ? 'completed' : 'failed',
    error: a.error ?? null,
  };
}

/** The lineage with this attempt in it (once: a retried write of the same attempt replaces it). */
export function withAttempt(lineage: readonly TaskAttempt[] | undefined, attempt: TaskAttempt): TaskAttempt[] {
  return [...(lineage ?? []).filter((a) => a.attempt !== attempt.attempt), attempt].sort((x, y) => x.attempt - y.attempt);
}
