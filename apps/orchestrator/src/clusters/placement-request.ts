import type { registryRoutes, RouteRequest } from '@flotilla/contracts';
import { agentPricing, type AgentRecord, type ExistingCluster } from '@flotilla/domain';

/** A move off a node: `keepSource` keeps the old assignment until released (make-before-break). */
export interface PlacementMove {
  readonly from: string;
  readonly keepSource: boolean;
}

/**
 * The registry placement request for some of a cluster's agents, with the cluster's placement
 * constraints and strategy. The reconciler sends it to place them; a dry run sends the same to
 * the registry's preview, so the plan it shows is the one the real command would get.
 */
export function placeRequestFor(
  cluster: ExistingCluster,
  agents: readonly AgentRecord[],
  move?: PlacementMove,
): RouteRequest<typeof registryRoutes.place> {
  const placement = cluster.blueprint.cluster.placement;
  return {
    cluster_id: cluster.clusterId,
    tenant_id: cluster.tenantId,
    ...(placement.strategy ? { strategy: placement.strategy } : {}),
    constraints: {
      required_services: [...placement.requiredServices],
      required_labels: { ...placement.requiredLabels },
      zone_spread: placement.zoneSpread,
      ...(placement.maxPerZone ? { max_per_zone: placement.maxPerZone } : {}),
      anti_affinity: placement.antiAffinity,
    },
    agents: agents.map((a) => ({
      agent_id: a.agentId,
      name: a.name,
      role: a.role,
      capabilities: [...a.capabilities],
      runtime: { ...a.runtime },
      resources: { cpu: a.resources.cpu, memory_mb: a.resources.memoryMb },
      spec_hash: a.specHash,
      blueprint_version: a.blueprintVersion ?? cluster.blueprintVersion,
      ...pricingFor(cluster, a),
    })),
    ...(move ? { move_from: move.from, keep_source: move.keepSource } : {}),
  };
}

/** The agent's prices from its cluster's blueprint, in the request's wire form (none when it prices nothing). */
function pricingFor(cluster: ExistingCluster, agent: AgentRecord) {
  const p = agentPricing(cluster.blueprint.cluster.pricing, agent.role, agent.runtime.kind);
  if (!p) return {};
  return {
    pricing: {
      currency: p.currency,
      agent_hour: p.agentHour,
      models: Object.fromEntries(Object.entries(p.models).map(([model, price]) => [model, { input_per_1k: price.inputPer1k, output_per_1k: price.outputPer1k }])),
    },
  };
}
