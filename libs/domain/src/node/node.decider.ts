import { AGENT_ROLES, RUNTIME_KINDS } from '../blueprint/blueprint.schema.js';
import type { Resources } from '../blueprint/blueprint.types.js';
import { commandNow, PLATFORM_TENANT, type Decider } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError, type ValidationIssue } from '../errors.js';
import { idProblem, isValidId } from '../ids.js';
import { isPlainJson } from '../json.js';
import { isIsoTimestamp } from '../time.js';
import type { NodeCommand, RegisterNode } from './node.commands.js';
import type { NodeEvent, NodeRegistered } from './node.events.js';
import type { AgentPricing } from '../cost/cost.js';
import { type AgentLineage, type AgentSpec, type ExistingNode, fits, type NodeAssignment, type NodeCore, type NodeSpec, type NodeState, nodeStatusOf } from './node.state.js';

/**
 * The Node aggregate (stream `node-<id>`): registration, heartbeat-derived liveness, cordon and
 * drain, and the placements on the node. Placements live on the node stream so that the capacity
 * invariant is checked under the node's own optimistic lock: two concurrent placements on one
 * node cannot both pass.
 */
export const initialState = (): NodeState => ({ status: 'none' });

function invalid(issues: ValidationIssue[]): never {
  throw ValidationError.of(issues, 'command');
}

function requireNode(state: NodeState): ExistingNode {
  if (state.status === 'none') throw new NotFoundError('node does not exist', { kind: 'node' });
  return state;
}

function requireRegistered(state: NodeState): Exclude<ExistingNode, { status: 'deregistered' }> {
  const node = requireNode(state);
  if (node.status === 'deregistered') {
    throw new RuleViolationError('node_deregistered', `node '${node.nodeId}' is deregistered`, { nodeId: node.nodeId });
  }
  return node;
}

const reasonOf = (value: unknown, fallback: string): string => (typeof value === 'string' && value.trim() !== '' ? value.slice(0, 1000) : fallback);

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function specOf(d: RegisterNode['data']): { spec: Omit<NodeSpec, 'nodeId'>; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const str = (key: 'hostname' | 'address' | 'region' | 'zone'): string => {
    const v = d[key];
    if (typeof v !== 'string' || v.trim() === '' || v.length > 253) issues.push({ path: key, message: 'expected a non-empty string of at most 253 characters' });
    return typeof v === 'string' ? v : '';
  };
  const hostname = str('hostname');
  const address = str('address');
  const region = str('region');
  const zone = str('zone');
  const labels = d.labels ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
    issues.push({ path: 'labels', message: 'expected a map of string labels' });
  }
  const services = d.services ?? [];
  if (!Array.isArray(services) || !services.every((s) => typeof s === 'string' && s !== '')) {
    issues.push({ path: 'services', message: 'expected a list of service names' });
  }
  const c = d.capacity;
  if (typeof c !== 'object' || c === null) {
    issues.push({ path: 'capacity', message: 'expected {cpu, memoryMb, maxAgents}' });
  } else {
    if (!isNum(c.cpu) || c.cpu <= 0) issues.push({ path: 'capacity.cpu', message: 'expected a positive number of cores' });
    if (!isInt(c.memoryMb) || c.memoryMb <= 0) issues.push({ path: 'capacity.memoryMb', message: 'expected a positive integer (MiB)' });
    if (!isInt(c.maxAgents) || c.maxAgents < 1) issues.push({ path: 'capacity.maxAgents', message: 'expected a positive integer' });
  }
  const role = d.role ?? 'worker';
  if (role !== 'worker' && role !== 'standby') issues.push({ path: 'role', message: "expected 'worker' or 'standby'" });
  const priority = d.priority ?? 0;
  if (!isInt(priority)) issues.push({ path: 'priority', message: 'expected an integer' });
  if (d.tenantId !== undefined && !isValidId('tenant', d.tenantId)) issues.push({ path: 'tenantId', message: idProblem('tenant', d.tenantId) });
  const sortedLabels = Object.fromEntries(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    spec: {
      tenantId: d.tenantId ?? null,
      hostname,
      address,
      region,
      zone,
      labels: sortedLabels,
      services: Array.isArray(services) ? [...new Set(services)].sort() : [],
      capacity: c && { cpu: c.cpu, memoryMb: c.memoryMb, maxAgents: c.maxAgents },
      role,
      priority,
    },
    issues,
  };
}

/** The tenant of the cluster an assignment is for, when the placement named it. */
const ownerOf = (a: NodeAssignment): { tenantId?: string } => (a.tenantId ? { tenantId: a.tenantId } : {});

const SPEC_KEYS = ['hostname', 'address', 'region', 'zone', 'labels', 'services', 'capacity', 'role', 'priority'] as const;

function checkResources(resources: unknown): Resources {
  const r = resources as Partial<Resources> | null;
  const issues: ValidationIssue[] = [];
  if (typeof r !== 'object' || r === null) issues.push({ path: 'resources', message: 'expected {cpu, memoryMb}' });
  else {
    if (!isNum(r.cpu) || r.cpu < 0) issues.push({ path: 'resources.cpu', message: 'expected a non-negative number of cores' });
    if (!isNum(r.memoryMb) || r.memoryMb < 0) issues.push({ path: 'resources.memoryMb', message: 'expected a non-negative number of MiB' });
  }
  if (issues.length > 0) invalid(issues);
  return { cpu: (r as Resources).cpu, memoryMb: (r as Resources).memoryMb };
}


/** The agent spec a placement carries, checked for shape (the runtime itself was resolved from a validated blueprint). */
function checkAgentSpec(agent: unknown, issues: ValidationIssue[]): AgentSpec | undefined {
  if (agent === undefined) return undefined;
  const a = agent as Partial<AgentSpec> | null;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) {
    issues.push({ path: 'agent', message: 'expected {name, role, capabilities, runtime}' });
    return undefined;
  }
  if (typeof a.name !== 'string' || a.name.trim() === '' || a.name.length > 253) issues.push({ path: 'agent.name', message: 'expected a non-empty string' });
  if (!AGENT_ROLES.includes(a.role as (typeof AGENT_ROLES)[number])) issues.push({ path: 'agent.role', message: `expected one of ${AGENT_ROLES.join(', ')}` });
  if (!Array.isArray(a.capabilities) || !a.capabilities.every((c) => typeof c === 'string' && c !== '')) {
    issues.push({ path: 'agent.capabilities', message: 'expected a list of capability names' });
  }
  const runtime = a.runtime as { kind?: unknown } | undefined;
  if (typeof runtime !== 'object' || runtime === null || Array.isArray(runtime) || !(RUNTIME_KINDS as readonly string[]).includes(runtime.kind as string) || !isPlainJson(runtime)) {
    issues.push({ path: 'agent.runtime', message: `expected a plain JSON runtime whose kind is one of ${RUNTIME_KINDS.join(', ')}` });
  }
  const lineage = a.lineage as Partial<AgentLineage> | undefined;
  if (lineage !== undefined && (typeof lineage !== 'object' || lineage === null || typeof lineage.specHash !== 'string' || typeof lineage.blueprintVersion !== 'string')) {
    issues.push({ path: 'agent.lineage', message: 'expected {specHash, blueprintVersion}' });
  }
  const pricing = a.pricing as Partial<AgentPricing> | undefined;
  if (pricing !== undefined && (typeof pricing !== 'object' || pricing === null || typeof pricing.currency !== 'string' || typeof pricing.agentHour !== 'number' || !(pricing.agentHour >= 0) || typeof pricing.models !== 'object' || pricing.models === null || !isPlainJson(pricing))) {
    issues.push({ path: 'agent.pricing', message: 'expected {currency, agentHour, models}' });
  }
  return {
    name: a.name as string,
    role: a.role as AgentSpec['role'],
    capabilities: [...(a.capabilities ?? [])],
    runtime: a.runtime as AgentSpec['runtime'],
    ...(lineage ? { lineage: { specHash: lineage.specHash!, blueprintVersion: lineage.blueprintVersion! } } : {}),
    ...(pricing ? { pricing: pricing as AgentPricing } : {}),
  };
}

export function decide(command: NodeCommand, state: NodeState): readonly NodeEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'RegisterNode': {
      const d = command.data;
      const { spec, issues } = specOf(d);
      if (!isValidId('node', d.nodeId)) issues.unshift({ path: 'nodeId', message: idProblem('node', d.nodeId) });
      if (issues.length > 0) invalid(issues);
      const registered: NodeRegistered = { type: 'NodeRegistered', data: { nodeId: d.nodeId, ...spec, at } };
      if (state.status === 'none' || state.status === 'deregistered') return [registered];
      if (state.tenantId !== spec.tenantId) throw AlreadyExistsError.of('node', d.nodeId);
      // A node agent re-registers on every boot: report only what changed, and that it is alive.
      const changes: Record<string, unknown> = {};
      for (const key of SPEC_KEYS) if (JSON.stringify(spec[key]) !== JSON.stringify(state[key])) changes[key] = spec[key];
      const events: NodeEvent[] = [];
      if (Object.keys(changes).length > 0) events.push({ type: 'NodeUpdated', data: { changes, at } });
      if (state.liveness !== 'online') events.push({ type: 'NodeRecovered', data: { reason: 'node registered again', from: state.liveness, at } });
      return events;
    }
    case 'MarkNodeSuspect': {
      const node = requireRegistered(state);
      if (node.liveness !== 'online') return [];
      const last = command.data.lastHeartbeatAt;
      return [{ type: 'NodeSuspected', data: { reason: reasonOf(command.data.reason, 'heartbeats missing'), lastHeartbeatAt: isIsoTimestamp(last) ? last : null, at } }];
    }
    case 'MarkNodeOffline': {
      const node = requireRegistered(state);
      if (node.liveness === 'offline') return [];
      const last = command.data.lastHeartbeatAt;
      return [
        {
          type: 'NodeWentOffline',
          data: {
            reason: reasonOf(command.data.reason, 'heartbeats stopped'),
            lastHeartbeatAt: isIsoTimestamp(last) ? last : null,
            // The agents to orphan and re-place elsewhere.
            agentIds: Object.keys(node.assignments).sort(),
            at,
          },
        },
      ];
    }
    case 'MarkNodeRecovered': {
      const node = requireRegistered(state);
      if (node.liveness === 'online') return [];
      return [{ type: 'NodeRecovered', data: { reason: reasonOf(command.data.reason, 'heartbeats resumed'), from: node.liveness, at } }];
    }
    case 'CordonNode': {
      const node = requireRegistered(state);
      if (node.admin !== 'none') return [];
      return [{ type: 'NodeCordoned', data: { reason: reasonOf(command.data.reason, 'cordoned by operator'), at } }];
    }
    case 'UncordonNode': {
      const node = requireRegistered(state);
      if (node.admin === 'none') return [];
      return [{ type: 'NodeUncordoned', data: { wasDraining: node.admin === 'draining', at } }];
    }
    case 'DrainNode': {
      const node = requireRegistered(state);
      if (node.admin === 'draining' || (node.admin === 'cordoned' && node.drained)) return [];
      const agentIds = Object.keys(node.assignments).sort();
      return [
        { type: 'NodeDrainStarted', data: { reason: reasonOf(command.data.reason, 'drain requested'), agentIds, at } },
        ...(agentIds.length === 0 ? [{ type: 'NodeDrained' as const, data: { at } }] : []),
      ];
    }
    case 'CompleteDrain': {
      const node = requireRegistered(state);
      if (node.admin === 'cordoned' && node.drained) return [];
      if (node.admin !== 'draining') throw new RuleViolationError('node_not_draining', `node '${node.nodeId}' is not draining`, { nodeId: node.nodeId });
      const left = Object.keys(node.assignments).length;
      if (left > 0) throw new RuleViolationError('node_not_empty', `node '${node.nodeId}' still hosts ${left} agents`, { nodeId: node.nodeId, agents: left });
      return [{ type: 'NodeDrained', data: { at } }];
    }
    case 'DeregisterNode': {
      const node = requireNode(state);
      if (node.status === 'deregistered') return [];
      const reason = reasonOf(command.data.reason, 'deregistered');
      const assignments = Object.values(node.assignments).sort((a, b) => (a.agentId < b.agentId ? -1 : 1));
      if (assignments.length > 0 && command.data.force !== true) {
        throw new RuleViolationError('node_not_empty', `node '${node.nodeId}' still hosts ${assignments.length} agents; drain it first or force`, {
          nodeId: node.nodeId,
          agents: assignments.length,
        });
      }
      return [
        ...assignments.map((a) => ({
          type: 'AgentReleased' as const,
          data: { nodeId: node.nodeId, agentId: a.agentId, clusterId: a.clusterId, ...ownerOf(a), reason: `node deregistered: ${reason}`, at },
        })),
        { type: 'NodeDeregistered', data: { reason, at } },
      ];
    }
    case 'PlaceAgent': {
      const node = requireRegistered(state);
      const { agentId, clusterId, tenantId } = command.data;
      const issues: ValidationIssue[] = [];
      if (!isValidId('agent', agentId)) issues.push({ path: 'agentId', message: idProblem('agent', agentId) });
      if (!isValidId('cluster', clusterId)) issues.push({ path: 'clusterId', message: idProblem('cluster', clusterId) });
      if (tenantId !== undefined && !isValidId('tenant', tenantId)) issues.push({ path: 'tenantId', message: idProblem('tenant', tenantId) });
      const agent = checkAgentSpec(command.data.agent, issues);
      if (issues.length > 0) invalid(issues);
      const resources = checkResources(command.data.resources);
      const existing = node.assignments[agentId];
      if (existing) {
        // The same placement retried (ids are chosen before placement): nothing new.
        if (existing.clusterId === clusterId) return [];
        throw new RuleViolationError('agent_id_conflict', `agent '${agentId}' is placed here for cluster '${existing.clusterId}'`, { agentId });
      }
      if (node.status !== 'online') {
        throw new RuleViolationError('node_not_schedulable', `node '${node.nodeId}' is ${node.status}; it takes no new agents`, {
          nodeId: node.nodeId,
          status: node.status,
        });
      }
      if (!fits(node.capacity, node.used, resources)) {
        throw new RuleViolationError('node_capacity_exceeded', `agent '${agentId}' does not fit on node '${node.nodeId}'`, {
          nodeId: node.nodeId,
          requested: { ...resources },
          used: { ...node.used },
          capacity: { ...node.capacity },
        });
      }
      return [{ type: 'AgentAssigned', data: { nodeId: node.nodeId, agentId, clusterId, ...(tenantId ? { tenantId } : {}), resources, ...(agent ? { agent } : {}), at } }];
    }
    case 'ReleaseAgent': {
      const node = requireNode(state);
      const assignment = node.assignments[command.data.agentId];
      if (!assignment) return [];
      const released: NodeEvent = {
        type: 'AgentReleased',
        data: { nodeId: node.nodeId, agentId: assignment.agentId, clusterId: assignment.clusterId, ...ownerOf(assignment), reason: reasonOf(command.data.reason, 'released'), at },
      };
      const drainedNow = node.admin === 'draining' && Object.keys(node.assignments).length === 1;
      return drainedNow ? [released, { type: 'NodeDrained', data: { at } }] : [released];
    }
    default: {
      const unknown: never = command;
      return invalid([{ path: 'type', message: `unknown node command ${JSON.stringify((unknown as { type: unknown }).type)}` }]);
    }
  }
}

function withStatus(core: NodeCore): NodeState {
  return { ...core, status: nodeStatusOf(core.liveness, core.admin) };
}

function coreOf(state: ExistingNode): NodeCore {
  const { status: _status, deregisteredAt: _at, ...core } = state as NodeCore & { status: string; deregisteredAt?: string };
  return core;
}

export function evolve(state: NodeState, event: NodeEvent): NodeState {
  if (event.type === 'NodeRegistered') {
    const { at, ...spec } = event.data;
    return withStatus({
      ...spec,
      liveness: 'online',
      admin: 'none',
      drained: false,
      assignments: {},
      used: { cpu: 0, memoryMb: 0, agents: 0 },
      registeredAt: at,
      updatedAt: at,
    });
  }
  if (state.status === 'none') return state;
  const at = event.data.at;
  const core: NodeCore = { ...coreOf(state), updatedAt: at };
  switch (event.type) {
    case 'NodeUpdated':
      return withStatus({ ...core, ...event.data.changes });
    case 'NodeSuspected':
      return withStatus({ ...core, liveness: 'suspect' });
    case 'NodeWentOffline':
      return withStatus({ ...core, liveness: 'offline' });
    case 'NodeRecovered':
      return withStatus({ ...core, liveness: 'online' });
    case 'NodeCordoned':
      return withStatus({ ...core, admin: 'cordoned', drained: false });
    case 'NodeUncordoned':
      return withStatus({ ...core, admin: 'none', drained: false });
    case 'NodeDrainStarted':
      return withStatus({ ...core, admin: 'draining', drained: false });
    case 'NodeDrained':
      return withStatus({ ...core, admin: 'cordoned', drained: true });
    case 'NodeDeregistered':
      return { ...core, status: 'deregistered', deregisteredAt: at };
    case 'AgentAssigned': {
      const { agentId, clusterId, tenantId, resources } = event.data;
      const used = { cpu: core.used.cpu + resources.cpu, memoryMb: core.used.memoryMb + resources.memoryMb, agents: core.used.agents + 1 };
      const next = { ...core, assignments: { ...core.assignments, [agentId]: { agentId, clusterId, ...(tenantId ? { tenantId } : {}), resources, at } }, used };
      return state.status === 'deregistered' ? { ...next, status: 'deregistered', deregisteredAt: state.deregisteredAt } : withStatus(next);
    }
    case 'AgentReleased': {
      const assignment = core.assignments[event.data.agentId];
      if (!assignment) return state;
      const { [event.data.agentId]: _gone, ...assignments } = core.assignments;
      const r = assignment.resources;
      const agents = core.used.agents - 1;
      // Recompute from zero when empty so float drift never leaves phantom usage behind.
      const used = agents === 0 ? { cpu: 0, memoryMb: 0, agents: 0 } : { cpu: core.used.cpu - r.cpu, memoryMb: core.used.memoryMb - r.memoryMb, agents };
      const next = { ...core, assignments, used };
      return state.status === 'deregistered' ? { ...next, status: 'deregistered', deregisteredAt: state.deregisteredAt } : withStatus(next);
    }
    default:
      return state;
  }
}

/**
 * A node's own lifecycle (registration, liveness, cordon, drain) is the platform's, unless the node
 * belongs to one tenant; an assignment or release of an agent is the tenant's whose cluster the
 * agent is of (recorded by the placement), so each tenant sees its own agents come and go.
 */
export function tenantOf(state: NodeState, event?: NodeEvent): string | null {
  if (event?.type === 'AgentAssigned' || event?.type === 'AgentReleased') return event.data.tenantId ?? PLATFORM_TENANT;
  if (state.status === 'none') return null;
  return state.tenantId ?? PLATFORM_TENANT;
}

export const nodeDecider: Decider<NodeState, NodeCommand, NodeEvent> = { decide, evolve, initialState, tenantOf };
