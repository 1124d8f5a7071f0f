import type { AgentPricing } from '../cost/cost.js';
import type { AgentRole } from '../blueprint/blueprint.schema.js';
import type { ResolvedRuntime, Resources } from '../blueprint/blueprint.types.js';

export const NODE_STATUSES = ['online', 'suspect', 'offline', 'draining', 'cordoned', 'deregistered'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
export type NodeRole = 'worker' | 'standby';
/** Heartbeat-derived liveness. */
export type NodeLiveness = 'online' | 'suspect' | 'offline';
/** Operator-set schedulability. A drained node stays cordoned until uncordoned. */
export type NodeAdmin = 'none' | 'cordoned' | 'draining';

export interface NodeCapacity {
  readonly cpu: number;
  readonly memoryMb: number;
  readonly maxAgents: number;
}

export interface NodeUsage {
  readonly cpu: number;
  readonly memoryMb: number;
  readonly agents: number;
}

export interface NodeSpec {
  readonly nodeId: string;
  readonly tenantId: string | null;
  readonly hostname: string;
  readonly address: string;
  readonly region: string;
  readonly zone: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly services: readonly string[];
  readonly capacity: NodeCapacity;
  readonly role: NodeRole;
  /** Higher is preferred when placement strategies tie. */
  readonly priority: number;
}

/** What a node agent needs to run an agent: its blueprint name, role, capabilities and resolved runtime. */
export interface AgentSpec {
  readonly name: string;
  readonly role: AgentRole;
  readonly capabilities: readonly string[];
  readonly runtime: ResolvedRuntime;
  /** What the agent runs: its spec hash and blueprint version (absent on older assignments). */
  readonly lineage?: AgentLineage;
  /** The prices its work is costed at (absent when its blueprint prices nothing). */
  readonly pricing?: AgentPricing;
}

export interface AgentLineage {
  readonly specHash: string;
  readonly blueprintVersion: string;
}

export interface NodeAssignment {
  readonly agentId: string;
  readonly clusterId: string;
  /** The tenant of the cluster (absent on assignments recorded before placements named it). */
  readonly tenantId?: string;
  readonly resources: Resources;
  readonly at: string;
}

export interface NodeCore extends NodeSpec {
  readonly liveness: NodeLiveness;
  readonly admin: NodeAdmin;
  readonly drained: boolean;
  readonly assignments: Readonly<Record<string, NodeAssignment>>;
  readonly used: NodeUsage;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export type NodeState =
  | { readonly status: 'none' }
  | (NodeCore & { readonly status: Exclude<NodeStatus, 'deregistered'> })
  | (NodeCore & { readonly status: 'deregistered'; readonly deregisteredAt: string });

export type ExistingNode = Exclude<NodeState, { status: 'none' }>;

/** One status from liveness and admin: a silent node is suspect/offline whatever its cordon. */
export function nodeStatusOf(liveness: NodeLiveness, admin: NodeAdmin): Exclude<NodeStatus, 'deregistered'> {
  if (liveness !== 'online') return liveness;
  return admin === 'none' ? 'online' : admin;
}

/** Capacity left on a node (may be negative when capacity shrank below what is placed). */
export function freeCapacity(node: NodeCore): NodeUsage {
  return {
    cpu: node.capacity.cpu - node.used.cpu,
    memoryMb: node.capacity.memoryMb - node.used.memoryMb,
    agents: node.capacity.maxAgents - node.used.agents,
  };
}

// Resources are summed in floating point (0.1 + 0.2 cores): compare with a tolerance.
const EPSILON = 1e-9;

/** Whether `resources` fit on a node with this capacity and usage. */
export function fits(capacity: NodeCapacity, used: NodeUsage, resources: Resources): boolean {
  return (
    used.agents + 1 <= capacity.maxAgents &&
    used.cpu + resources.cpu <= capacity.cpu + EPSILON &&
    used.memoryMb + resources.memoryMb <= capacity.memoryMb + EPSILON
  );
}
