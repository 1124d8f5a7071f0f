import type { registryRoutes, RouteRequest } from '@flotilla/contracts';
import type { AgentRecord, ExistingCluster } from '@flotilla/domain';

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
    })),
    ...(move ? { move_from: move.from, keep_source: move.keepSource } : {}),
  };
}
