import { ValidationError } from '../errors.js';
import { stableHash } from '../json.js';
import type { Blueprint, BlueprintAgent, BlueprintRuntime, Environment, EnvironmentOverlay } from './blueprint.schema.js';
import {
  DEFAULT_BUILTIN_DELAY_MS,
  DEFAULT_CIRCUIT_BREAKER,
  DEFAULT_HIBERNATION,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MONITORING,
  DEFAULT_OPENAI_TIMEOUT_MS,
  DEFAULT_PLACEMENT,
  DEFAULT_RESOURCES,
  DEFAULT_SCALING_POLICY,
  type ResolvedAgent,
  type ResolvedBlueprint,
  type ResolvedCluster,
  type ResolvedPlacement,
  type ResolvedPricing,
  type ResolvedRuntime,
  type Resources,
  type ScalingPolicy,
} from './blueprint.types.js';
import { blueprintIssues } from './blueprint.validate.js';

export interface ResolveOptions {
  /** Apply this environment's overlay (development, staging, production); none by default. */
  readonly environment?: Environment;
}

/** Hash of a blueprint document as registered: SHA-256 of its canonical JSON. */
export function blueprintHash(blueprint: Blueprint): string {
  return stableHash(blueprint);
}

/**
 * Fills every default, applies an environment overlay and computes each agent's spec hash. The
 * result is plain JSON: what a cluster snapshots at creation.
 */
export function resolveBlueprint(blueprint: Blueprint, options: ResolveOptions = {}): ResolvedBlueprint {
  // Resolution trusts its input to be a validated blueprint; a hand-built object that is not
  // fails here with the same issues validateBlueprint would report.
  const issues = blueprintIssues(blueprint);
  if (issues.length > 0) throw ValidationError.of(issues, 'blueprint');

  const environment = options.environment;
  const overlay: EnvironmentOverlay = (environment && blueprint.environments?.[environment]) || {};
  const cluster = resolveCluster(blueprint.cluster, overlay);
  const supervisor = blueprint.agents.find((a) => a.role === 'supervisor')?.name ?? null;
  const agents = blueprint.agents.map((agent) => resolveAgent(agent, cluster.resources, supervisor));

  const body = {
    apiVersion: blueprint.apiVersion,
    blueprintId: blueprint.metadata.id,
    name: blueprint.metadata.name,
    version: blueprint.metadata.version,
    description: blueprint.metadata.description ?? '',
    tags: [...(blueprint.metadata.tags ?? [])],
    environment: environment ?? ('base' as const),
    cluster,
    agents,
  };
  return { ...body, hash: blueprintHash(blueprint), resolvedHash: stableHash(body) };
}

function resolveResources(...layers: (Partial<Resources> | undefined)[]): Resources {
  let out: Resources = DEFAULT_RESOURCES;
  for (const layer of layers) if (layer) out = { cpu: layer.cpu ?? out.cpu, memoryMb: layer.memoryMb ?? out.memoryMb };
  return out;
}

function resolveCluster(spec: Blueprint['cluster'], overlay: EnvironmentOverlay): ResolvedCluster {
  const minWorkers = overlay.minWorkers ?? spec.minWorkers;
  const maxWorkers = overlay.maxWorkers ?? spec.maxWorkers;
  // An overlay that moves the bounds but not the target clamps the base target into them.
  const baseTarget = spec.targetWorkers ?? minWorkers;
  const targetWorkers = overlay.targetWorkers ?? Math.min(maxWorkers, Math.max(minWorkers, baseTarget));

  const placementLayers = [spec.placement, overlay.placement];
  let placement: ResolvedPlacement = DEFAULT_PLACEMENT;
  for (const layer of placementLayers) {
    if (!layer) continue;
    const zone = layer.zoneSpread;
    placement = {
      strategy: layer.strategy ?? placement.strategy,
      requiredServices: layer.requiredServices ? [...new Set(layer.requiredServices)].sort() : placement.requiredServices,
      requiredLabels: layer.requiredLabels ? sortedRecord(layer.requiredLabels) : placement.requiredLabels,
      zoneSpread: zone === undefined ? placement.zoneSpread : zone !== false,
      maxPerZone: zone === undefined ? placement.maxPerZone : typeof zone === 'object' ? zone.maxPerZone : null,
      antiAffinity: layer.antiAffinity ?? placement.antiAffinity,
    };
  }

  let scaling: ScalingPolicy = DEFAULT_SCALING_POLICY;
  for (const layer of [spec.scaling, overlay.scaling]) if (layer) scaling = { ...scaling, ...layer };

  return {
    type: spec.type,
    minWorkers,
    targetWorkers,
    maxWorkers,
    resources: resolveResources(spec.resources, overlay.resources),
    placement,
    scaling,
    monitoring: { ...DEFAULT_MONITORING, ...spec.monitoring, ...overlay.monitoring },
    circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, ...spec.circuitBreaker, ...overlay.circuitBreaker },
    backupCluster: overlay.backupCluster ?? spec.backupCluster ?? null,
    hibernation: { ...DEFAULT_HIBERNATION, ...spec.hibernation, ...overlay.hibernation },
    ...(spec.pricing ? { pricing: resolvePricing(spec.pricing) } : {}),
    ...(spec.budgets?.length ? { budgets: spec.budgets.map((b) => ({ amount: b.amount, period: b.period ?? 'day', action: b.action })) } : {}),
  };
}

function resolvePricing(pricing: NonNullable<Blueprint['cluster']['pricing']>): ResolvedPricing {
  const sorted = <V>(r: Readonly<Record<string, V>> | undefined): Record<string, V> =>
    Object.fromEntries(Object.entries(r ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    currency: pricing.currency ?? 'USD',
    agentHour: {
      default: pricing.agentHour?.default ?? 0,
      roles: sorted(pricing.agentHour?.roles as Record<string, number> | undefined),
      runtimes: sorted(pricing.agentHour?.runtimes as Record<string, number> | undefined),
    },
    models: sorted(pricing.models),
  };
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function resolveRuntime(runtime: BlueprintRuntime): ResolvedRuntime {
  switch (runtime.kind) {
    case 'builtin':
      return {
        kind: 'builtin',
        handler: runtime.handler,
        delayMs: runtime.delayMs ?? DEFAULT_BUILTIN_DELAY_MS[runtime.handler],
        failureRate: runtime.failureRate ?? (runtime.handler === 'fail' ? 1 : 0),
      };
    case 'http':
      return {
        kind: 'http',
        url: runtime.url,
        method: runtime.method ?? 'POST',
        timeoutMs: runtime.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
        headers: sortedRecord(runtime.headers ?? {}),
      };
    case 'openai':
      return {
        kind: 'openai',
        baseUrl: runtime.baseUrl,
        model: runtime.model,
        systemPrompt: runtime.systemPrompt ?? null,
        apiKeyEnv: runtime.apiKeyEnv ?? null,
        temperature: runtime.temperature ?? null,
        maxTokens: runtime.maxTokens ?? null,
        timeoutMs: runtime.timeoutMs ?? DEFAULT_OPENAI_TIMEOUT_MS,
      };
  }
}

function resolveAgent(agent: BlueprintAgent, clusterResources: Resources, supervisor: string | null): ResolvedAgent {
  const isWorker = agent.role === 'worker';
  const spec = {
    name: agent.name,
    role: agent.role,
    capabilities: [...(agent.capabilities ?? [])],
    runtime: resolveRuntime(agent.runtime),
    reportsTo: agent.role === 'supervisor' ? null : (agent.reportsTo ?? supervisor),
    resources: resolveResources(clusterResources, agent.resources),
  };
  return {
    ...spec,
    description: agent.description ?? '',
    count: isWorker ? 0 : (agent.count ?? 1),
    weight: isWorker ? (agent.weight ?? 1) : 0,
    // The lineage covers what an instance runs, not how many run or how it is described.
    specHash: stableHash(spec),
  };
}
