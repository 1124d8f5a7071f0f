import type { Event } from '../decider.js';
import type { Resources } from '../blueprint/blueprint.types.js';
import type { AgentSpec, NodeCapacity, NodeLiveness, NodeRole, NodeSpec } from './node.state.js';

type At = { readonly at: string };

export type NodeRegistered = Event<
  'NodeRegistered',
  At & {
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
    readonly priority: number;
  }
>;
export type NodeUpdated = Event<'NodeUpdated', At & { readonly changes: Partial<Omit<NodeSpec, 'nodeId' | 'tenantId'>> }>;
export type NodeSuspected = Event<'NodeSuspected', At & { readonly reason: string; readonly lastHeartbeatAt: string | null }>;
export type NodeWentOffline = Event<
  'NodeWentOffline',
  At & { readonly reason: string; readonly lastHeartbeatAt: string | null; readonly agentIds: readonly string[] }
>;
export type NodeRecovered = Event<'NodeRecovered', At & { readonly reason: string; readonly from: Exclude<NodeLiveness, 'online'> }>;
export type NodeCordoned = Event<'NodeCordoned', At & { readonly reason: string }>;
export type NodeUncordoned = Event<'NodeUncordoned', At & { readonly wasDraining: boolean }>;
export type NodeDrainStarted = Event<'NodeDrainStarted', At & { readonly reason: string; readonly agentIds: readonly string[] }>;
export type NodeDrained = Event<'NodeDrained', At>;
export type NodeDeregistered = Event<'NodeDeregistered', At & { readonly reason: string }>;
export type AgentAssigned = Event<
  'AgentAssigned',
  At & {
    readonly nodeId: string;
    readonly agentId: string;
    readonly clusterId: string;
    /** The cluster's tenant: whose event this is, and whose egress allow-list applies (absent on events recorded before placements named it). */
    readonly tenantId?: string;
    readonly resources: Resources;
    readonly agent?: AgentSpec;
  }
>;
export type AgentReleased = Event<
  'AgentReleased',
  At & { readonly nodeId: string; readonly agentId: string; readonly clusterId: string; readonly tenantId?: string; readonly reason: string }
>;

export type NodeEvent =
  | NodeRegistered
  | NodeUpdated
  | NodeSuspected
  | NodeWentOffline
  | NodeRecovered
  | NodeCordoned
  | NodeUncordoned
  | NodeDrainStarted
  | NodeDrained
  | NodeDeregistered
  | AgentAssigned
  | AgentReleased;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const NODE_EVENT_TYPE_SET: { readonly [K in NodeEvent['type']]: true } = {
  NodeRegistered: true,
  NodeUpdated: true,
  NodeSuspected: true,
  NodeWentOffline: true,
  NodeRecovered: true,
  NodeCordoned: true,
  NodeUncordoned: true,
  NodeDrainStarted: true,
  NodeDrained: true,
  NodeDeregistered: true,
  AgentAssigned: true,
  AgentReleased: true,
};
export const NODE_EVENT_TYPES = Object.keys(NODE_EVENT_TYPE_SET) as readonly NodeEvent['type'][];

export function isNodeEvent(event: { readonly type: string }): event is NodeEvent {
  return Object.hasOwn(NODE_EVENT_TYPE_SET, event.type);
}
