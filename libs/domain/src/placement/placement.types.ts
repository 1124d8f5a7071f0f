import type { AgentRole, PlacementStrategy } from '../blueprint/blueprint.schema.js';
import type { Resources } from '../blueprint/blueprint.types.js';
import type { Seed } from '../random.js';
import type { NodeCapacity, NodeRole, NodeStatus, NodeUsage } from '../node/node.state.js';

/** What placement knows about a node: its registry state plus its latest telemetry. */
export interface NodeSnapshot {
  readonly nodeId: string;
  readonly status: NodeStatus;
  readonly role: NodeRole;
  readonly zone: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly services: readonly string[];
  readonly capacity: NodeCapacity;
  /** Reserved by agents already placed (including `existing`). */
  readonly used: NodeUsage;
  /** Measured utilisation: cpu, memory, disk in %, load = one-minute load average. */
  readonly health: { readonly cpu: number; readonly memory: number; readonly disk: number; readonly load: number };
  /** Higher wins ties between otherwise equal nodes. */
  readonly priority: number;
}

export interface PlacementRequest {
  /** Chosen before placement, so retrying a placement is idempotent. */
  readonly agentId: string;
  readonly clusterId: string;
  readonly role?: AgentRole;
  readonly resources: Resources;
  readonly requiredServices?: readonly string[];
  readonly requiredLabels?: Readonly<Record<string, string>>;
}

export interface PlacementConstraints {
  /** Spread each cluster's agents evenly over zones. */
  readonly zoneSpread: boolean;
  /** Never two agents of one cluster on the same node. */
  readonly antiAffinity: boolean;
  /** At most this many agents of one cluster per zone (implies spreading). */
  readonly maxPerZone?: number | null;
}

export interface ExistingPlacement {
  readonly agentId: string;
  readonly clusterId: string;
  readonly nodeId: string;
}

export interface PlaceInput {
  readonly agents: readonly PlacementRequest[];
  readonly nodes: readonly NodeSnapshot[];
  readonly strategy: PlacementStrategy;
  readonly constraints?: PlacementConstraints;
  /** Seed of the random strategy: the same seed and input give the same placement. */
  readonly seed?: Seed;
  /** Placements already made (for anti-affinity, zone spread and idempotent retries). */
  readonly existing?: readonly ExistingPlacement[];
  /** Round-robin position: the node id assigned last (returned by the previous call). */
  readonly cursor?: string | null;
}

export const UNPLACED_REASONS = [
  'no_schedulable_nodes',
  'missing_services',
  'missing_labels',
  'no_healthy_nodes',
  'insufficient_capacity',
  'zone_limit',
  'anti_affinity',
  'duplicate_agent',
] as const;
export type UnplacedReason = (typeof UNPLACED_REASONS)[number];

/**
 * The constraint that leaves no node for an agent, named so an operator knows what to change:
 * node status (online, not cordoned or draining), required services, required labels, node health
 * (health-based strategy), free agent slots (`max_agents`), free CPU, free memory, the zone cap,
 * or anti-affinity.
 */
export const BINDING_CONSTRAINTS = ['node_status', 'services', 'labels', 'health', 'agent_slots', 'cpu', 'memory', 'zone_spread', 'anti_affinity'] as const;
export type BindingConstraint = (typeof BINDING_CONSTRAINTS)[number];

export interface Assignment {
  readonly agentId: string;
  readonly nodeId: string;
}

export interface Unplaced {
  readonly agentId: string;
  readonly reason: UnplacedReason;
  /** The constraint that binds (absent for a duplicate agent in the batch). */
  readonly constraint?: BindingConstraint;
  readonly message: string;
}

export interface PlaceResult {
  readonly assignments: readonly Assignment[];
  readonly unplaced: readonly Unplaced[];
  /** Pass back as `cursor` so round-robin continues where it stopped. */
  readonly cursor: string | null;
}
