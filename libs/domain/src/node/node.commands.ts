import type { Command } from '../decider.js';
import type { Resources } from '../blueprint/blueprint.types.js';
import type { AgentSpec, NodeCapacity, NodeRole } from './node.state.js';

export type RegisterNode = Command<
  'RegisterNode',
  {
    readonly nodeId: string;
    readonly tenantId?: string;
    readonly hostname: string;
    readonly address: string;
    readonly region: string;
    readonly zone: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly services?: readonly string[];
    readonly capacity: NodeCapacity;
    readonly role?: NodeRole;
    readonly priority?: number;
  }
>;
/** Heartbeats stopped for a while (see detectNodeTransitions). */
export type MarkNodeSuspect = Command<'MarkNodeSuspect', { readonly reason?: string; readonly lastHeartbeatAt?: string }>;
export type MarkNodeOffline = Command<'MarkNodeOffline', { readonly reason?: string; readonly lastHeartbeatAt?: string }>;
export type MarkNodeRecovered = Command<'MarkNodeRecovered', { readonly reason?: string }>;
export type CordonNode = Command<'CordonNode', { readonly reason?: string }>;
export type UncordonNode = Command<'UncordonNode', Record<string, never>>;
export type DrainNode = Command<'DrainNode', { readonly reason?: string }>;
export type CompleteDrain = Command<'CompleteDrain', Record<string, never>>;
export type DeregisterNode = Command<'DeregisterNode', { readonly reason?: string; readonly force?: boolean }>;
/**
 * Reserves capacity for an agent on this node (the placement, recorded on the node stream). The
 * optional `agent` spec travels on AgentAssigned, so the node agent learns from the log alone
 * what to run.
 */
export type PlaceAgent = Command<
  'PlaceAgent',
  {
    readonly agentId: string;
    readonly clusterId: string;
    /** The cluster's tenant: the assignment (and its release) is recorded as that tenant's, and the node agent applies that tenant's egress allow-list to the agent. */
    readonly tenantId?: string;
    readonly resources: Resources;
    readonly agent?: AgentSpec;
  }
>;
export type ReleaseAgent = Command<'ReleaseAgent', { readonly agentId: string; readonly reason?: string }>;

export type NodeCommand =
  | RegisterNode
  | MarkNodeSuspect
  | MarkNodeOffline
  | MarkNodeRecovered
  | CordonNode
  | UncordonNode
  | DrainNode
  | CompleteDrain
  | DeregisterNode
  | PlaceAgent
  | ReleaseAgent;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const NODE_COMMAND_TYPE_SET: { readonly [K in NodeCommand['type']]: true } = {
  RegisterNode: true,
  MarkNodeSuspect: true,
  MarkNodeOffline: true,
  MarkNodeRecovered: true,
  CordonNode: true,
  UncordonNode: true,
  DrainNode: true,
  CompleteDrain: true,
  DeregisterNode: true,
  PlaceAgent: true,
  ReleaseAgent: true,
};
export const NODE_COMMAND_TYPES = Object.keys(NODE_COMMAND_TYPE_SET) as readonly NodeCommand['type'][];
