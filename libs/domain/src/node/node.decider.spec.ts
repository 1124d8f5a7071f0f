import { describe, expect, it } from '@jest/globals';
import { fold } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError } from '../errors.js';
import { deciderSpec, thrownBy } from '../testing/decider-spec.js';
import type { NodeCommand } from './node.commands.js';
import { nodeDecider } from './node.decider.js';
import type { NodeEvent } from './node.events.js';
import { freeCapacity } from './node.state.js';

const NOW = '2026-03-01T10:00:00.000Z';
type Data<K extends NodeCommand['type']> = Extract<NodeCommand, { type: K }>['data'];
const cmd = <K extends NodeCommand['type']>(type: K, data: Data<K>): NodeCommand => ({ type, data, metadata: { now: NOW } }) as NodeCommand;
const spec = deciderSpec(nodeDecider);

function run(commands: readonly NodeCommand[], from: readonly NodeEvent[] = []): NodeEvent[] {
  const events = [...from];
  for (const c of commands) events.push(...nodeDecider.decide(c, fold(nodeDecider, events)));
  return events;
}

const registration: Data<'RegisterNode'> = {
  nodeId: 'node-2',
  hostname: 'worker1',
  address: '10.0.0.2:8152',
  region: 'eu-central',
  zone: 'eu-central-1a',
  labels: { tier: 'fast', gpu: 'false' },
  services: ['wrapper', 'database'],
  capacity: { cpu: 4, memoryMb: 8192, maxAgents: 3 },
  role: 'worker',
  priority: 10,
};
const register = (data: Partial<Data<'RegisterNode'>> = {}) => cmd('RegisterNode', { ...registration, ...data });
const placeAgent = (agentId: string, cpu = 1, memoryMb = 1024, clusterId = 'cluster-a') => cmd('PlaceAgent', { agentId, clusterId, resources: { cpu, memoryMb } });
const release = (agentId: string) => cmd('ReleaseAgent', { agentId });

const registeredH = run([register()]);
const withAgentsH = run([placeAgent('a-1'), placeAgent('a-2')], registeredH);
const offlineH = run([cmd('MarkNodeOffline', {})], withAgentsH);

describe('Node decider', () => {
  describe('RegisterNode', () => {
    it('registers with sorted labels and services', () =>
      spec.given([]).when(register()).then([
        {
          type: 'NodeRegistered',
          data: {
            nodeId: 'node-2',
            tenantId: null,
            hostname: 'worker1',
            address: '10.0.0.2:8152',
            region: 'eu-central',
            zone: 'eu-central-1a',
            labels: { gpu: 'false', tier: 'fast' },
            services: ['database', 'wrapper'],
            capacity: { cpu: 4, memoryMb: 8192, maxAgents: 3 },
            role: 'worker',
            priority: 10,
            at: NOW,
          },
        },
      ]));
    it('is idempotent for the same registration', () => spec.given(registeredH).when(register()).then([]));
    it('reports what changed on re-registration', () =>
      spec.given(registeredH).when(register({ capacity: { cpu: 8, memoryMb: 8192, maxAgents: 3 } })).then([
        { type: 'NodeUpdated', data: { changes: { capacity: { cpu: 8, memoryMb: 8192, maxAgents: 3 } }, at: NOW } },
      ]));
    it('counts a re-registration of an offline node as recovery', () =>
      spec.given(offlineH).when(register()).then([{ type: 'NodeRecovered', data: { reason: 'node registered again', from: 'offline', at: NOW } }]));
    it('registers a deregistered node afresh', () => spec.given(run([cmd('DeregisterNode', {})], registeredH)).when(register()).thenTypes(['NodeRegistered']));
    it('refuses another tenant', () => spec.given(registeredH).when(register({ tenantId: 'globex' })).thenThrows(AlreadyExistsError));
    it('refuses bad input, listing every problem', () => {
      try {
        nodeDecider.decide(register({ nodeId: 'Node_2', capacity: { cpu: 0, memoryMb: 1.5, maxAgents: 0 }, zone: '' }), nodeDecider.initialState());
        throw new Error('expected a ValidationError');
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['nodeId', 'zone', 'capacity.cpu', 'capacity.memoryMb', 'capacity.maxAgents']);
      }
    });
  });

  describe('liveness', () => {
    it('online → suspect', () =>
      spec.given(registeredH).when(cmd('MarkNodeSuspect', { lastHeartbeatAt: '2026-03-01T09:59:40.000Z' })).then([
        { type: 'NodeSuspected', data: { reason: 'heartbeats missing', lastHeartbeatAt: '2026-03-01T09:59:40.000Z', at: NOW } },
      ]));
    it('suspect → offline, naming the agents to orphan', () =>
      spec.given(run([cmd('MarkNodeSuspect', {})], withAgentsH)).when(cmd('MarkNodeOffline', { reason: 'silent for 60 s' })).then([
        { type: 'NodeWentOffline', data: { reason: 'silent for 60 s', lastHeartbeatAt: null, agentIds: ['a-1', 'a-2'], at: NOW } },
      ]));
    it('offline → online', () => spec.given(offlineH).when(cmd('MarkNodeRecovered', {})).then([{ type: 'NodeRecovered', data: { reason: 'heartbeats resumed', from: 'offline', at: NOW } }]));
    it('is idempotent at every step', () => {
      spec.given(run([cmd('MarkNodeSuspect', {})], registeredH)).when(cmd('MarkNodeSuspect', {})).then([]);
      spec.given(offlineH).when(cmd('MarkNodeOffline', {})).then([]);
      spec.given(offlineH).when(cmd('MarkNodeSuspect', {})).then([]);
      spec.given(registeredH).when(cmd('MarkNodeRecovered', {})).then([]);
    });
    it('keeps a cordon through an outage', () => {
      const state = fold(nodeDecider, run([cmd('CordonNode', {}), cmd('MarkNodeOffline', {}), cmd('MarkNodeRecovered', {})], registeredH));
      expect(state.status).toBe('cordoned');
    });
    it('refuses an unknown node', () => spec.given([]).when(cmd('MarkNodeOffline', {})).thenThrows(NotFoundError));
    it('refuses a deregistered node', () => spec.given(run([cmd('DeregisterNode', {})], registeredH)).when(cmd('MarkNodeSuspect', {})).thenThrows(RuleViolationError, 'node_deregistered'));
  });

  describe('cordon and drain', () => {
    it('cordons and uncordons', () => {
      spec.given(registeredH).when(cmd('CordonNode', { reason: 'maintenance' })).then([{ type: 'NodeCordoned', data: { reason: 'maintenance', at: NOW } }]);
      spec.given(run([cmd('CordonNode', {})], registeredH)).when(cmd('UncordonNode', {})).then([{ type: 'NodeUncordoned', data: { wasDraining: false, at: NOW } }]);
      spec.given(run([cmd('CordonNode', {})], registeredH)).when(cmd('CordonNode', {})).then([]);
      spec.given(registeredH).when(cmd('UncordonNode', {})).then([]);
    });
    it('drains: lists the agents to move, completes when the last one is released', () => {
      spec.given(withAgentsH).when(cmd('DrainNode', {})).then([{ type: 'NodeDrainStarted', data: { reason: 'drain requested', agentIds: ['a-1', 'a-2'], at: NOW } }]);
      const draining = run([cmd('DrainNode', {}), release('a-1')], withAgentsH);
      spec.given(draining).when(release('a-2')).then([
        { type: 'AgentReleased', data: { nodeId: 'node-2', agentId: 'a-2', clusterId: 'cluster-a', reason: 'released', at: NOW } },
        { type: 'NodeDrained', data: { at: NOW } },
      ]);
      expect(fold(nodeDecider, run([release('a-2')], draining)).status).toBe('cordoned');
    });
    it('drains an empty node at once', () => spec.given(registeredH).when(cmd('DrainNode', {})).thenTypes(['NodeDrainStarted', 'NodeDrained']));
    it('is idempotent', () => spec.given(run([cmd('DrainNode', {})], withAgentsH)).when(cmd('DrainNode', {})).then([]));
    it('CompleteDrain refuses a node with agents or not draining', () => {
      spec.given(run([cmd('DrainNode', {})], withAgentsH)).when(cmd('CompleteDrain', {})).thenThrows(RuleViolationError, 'node_not_empty');
      spec.given(registeredH).when(cmd('CompleteDrain', {})).thenThrows(RuleViolationError, 'node_not_draining');
      spec.given(run([cmd('DrainNode', {})], registeredH)).when(cmd('CompleteDrain', {})).then([]);
    });
    it('uncordon cancels a drain', () => spec.given(run([cmd('DrainNode', {})], withAgentsH)).when(cmd('UncordonNode', {})).then([{ type: 'NodeUncordoned', data: { wasDraining: true, at: NOW } }]));
  });

  describe('placements', () => {
    it('assigns within capacity', () =>
      spec.given(registeredH).when(placeAgent('a-1')).then([{ type: 'AgentAssigned', data: { nodeId: 'node-2', agentId: 'a-1', clusterId: 'cluster-a', resources: { cpu: 1, memoryMb: 1024 }, at: NOW } }]));
    it('carries the agent spec the node agent needs to run the agent', () => {
      const agent = { name: 'copywriter', role: 'specialist' as const, capabilities: ['copywriting'], runtime: { kind: 'builtin' as const, handler: 'sleep' as const, delayMs: 200, failureRate: 0 } };
      spec
        .given(registeredH)
        .when(cmd('PlaceAgent', { agentId: 'a-1', clusterId: 'cluster-a', resources: { cpu: 1, memoryMb: 1024 }, agent }))
        .then([{ type: 'AgentAssigned', data: { nodeId: 'node-2', agentId: 'a-1', clusterId: 'cluster-a', resources: { cpu: 1, memoryMb: 1024 }, agent, at: NOW } }]);
    });
    it("carries the cluster's tenant (whose egress allow-list the node agent applies), and refuses a malformed one", () => {
      spec
        .given(registeredH)
        .when(cmd('PlaceAgent', { agentId: 'a-1', clusterId: 'cluster-a', tenantId: 'acme', resources: { cpu: 1, memoryMb: 1024 } }))
        .then([{ type: 'AgentAssigned', data: { nodeId: 'node-2', agentId: 'a-1', clusterId: 'cluster-a', tenantId: 'acme', resources: { cpu: 1, memoryMb: 1024 }, at: NOW } }]);
      spec.given(registeredH).when(cmd('PlaceAgent', { agentId: 'a-1', clusterId: 'cluster-a', tenantId: 'Not A Tenant', resources: { cpu: 1, memoryMb: 1 } })).thenThrows(ValidationError);
    });
    it('refuses a malformed agent spec, naming each field', () => {
      const bad = { name: '', role: 'boss', capabilities: [1], runtime: { kind: 'shell' } } as unknown as Data<'PlaceAgent'>['agent'];
      const err = thrownBy(() => nodeDecider.decide(cmd('PlaceAgent', { agentId: 'a-1', clusterId: 'cluster-a', resources: { cpu: 1, memoryMb: 1 }, agent: bad }), fold(nodeDecider, registeredH)));
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['agent.name', 'agent.role', 'agent.capabilities', 'agent.runtime']);
    });
    it('tracks usage', () => {
      const state = fold(nodeDecider, withAgentsH);
      if (state.status === 'none') throw new Error('unreachable');
      expect(state.used).toEqual({ cpu: 2, memoryMb: 2048, agents: 2 });
      expect(freeCapacity(state)).toEqual({ cpu: 2, memoryMb: 6144, agents: 1 });
      const after = fold(nodeDecider, run([release('a-1'), release('a-2')], withAgentsH));
      expect(after.status !== 'none' && after.used).toEqual({ cpu: 0, memoryMb: 0, agents: 0 });
    });
    it('is idempotent for a retried placement', () => spec.given(withAgentsH).when(placeAgent('a-1')).then([]));
    it('refuses the same agent for another cluster', () => spec.given(withAgentsH).when(placeAgent('a-1', 1, 1024, 'cluster-b')).thenThrows(RuleViolationError, 'agent_id_conflict'));
    it('never exceeds maxAgents', () => spec.given(run([placeAgent('a-3')], withAgentsH)).when(placeAgent('a-4', 0.1, 1)).thenThrows(RuleViolationError, 'node_capacity_exceeded'));
    it('never exceeds CPU', () => spec.given(withAgentsH).when(placeAgent('a-3', 2.5)).thenThrows(RuleViolationError, 'node_capacity_exceeded'));
    it('never exceeds memory', () => spec.given(withAgentsH).when(placeAgent('a-3', 1, 6145)).thenThrows(RuleViolationError, 'node_capacity_exceeded'));
    it('fills exactly to capacity despite float sums', () => {
      const h = run([placeAgent('a-1', 0.1, 1), placeAgent('a-2', 0.2, 1)], run([register({ capacity: { cpu: 0.4, memoryMb: 3, maxAgents: 3 } })]));
      spec.given(h).when(placeAgent('a-3', 0.1, 1)).thenTypes(['AgentAssigned']);
    });
    it('refuses a node that is not online', () => {
      spec.given(offlineH).when(placeAgent('a-3')).thenThrows(RuleViolationError, 'node_not_schedulable');
      spec.given(run([cmd('CordonNode', {})], registeredH)).when(placeAgent('a-3')).thenThrows(RuleViolationError, 'node_not_schedulable');
      spec.given(run([cmd('DrainNode', {})], withAgentsH)).when(placeAgent('a-3')).thenThrows(RuleViolationError, 'node_not_schedulable');
      spec.given(run([cmd('MarkNodeSuspect', {})], registeredH)).when(placeAgent('a-3')).thenThrows(RuleViolationError, 'node_not_schedulable');
    });
    it('refuses bad ids and resources', () => {
      spec.given(registeredH).when(cmd('PlaceAgent', { agentId: 'A 1', clusterId: 'cluster-a', resources: { cpu: 1, memoryMb: 1 } })).thenThrows(ValidationError);
      spec.given(registeredH).when(cmd('PlaceAgent', { agentId: 'a-1', clusterId: 'cluster-a', resources: { cpu: -1, memoryMb: 1 } })).thenThrows(ValidationError);
    });
    it('release is idempotent', () => spec.given(registeredH).when(release('a-9')).then([]));
  });

  describe('DeregisterNode', () => {
    it('deregisters an empty node', () => spec.given(registeredH).when(cmd('DeregisterNode', { reason: 'retired' })).then([{ type: 'NodeDeregistered', data: { reason: 'retired', at: NOW } }]));
    it('refuses a node with agents unless forced', () => {
      spec.given(withAgentsH).when(cmd('DeregisterNode', {})).thenThrows(RuleViolationError, 'node_not_empty');
      spec.given(withAgentsH).when(cmd('DeregisterNode', { force: true })).thenTypes(['AgentReleased', 'AgentReleased', 'NodeDeregistered']);
    });
    it('is idempotent', () => spec.given(run([cmd('DeregisterNode', {})], registeredH)).when(cmd('DeregisterNode', {})).then([]));
    it('refuses placements afterwards', () => spec.given(run([cmd('DeregisterNode', {})], registeredH)).when(placeAgent('a-1')).thenThrows(RuleViolationError, 'node_deregistered'));
  });

  describe("whose events they are: the node's tenant's, never the caller's", () => {
    const tenantOfEach = (given: readonly NodeEvent[], command: NodeCommand): (string | null)[] => {
      let state = fold(nodeDecider, given);
      return nodeDecider.decide(command, state).map((e) => {
        state = nodeDecider.evolve(state, e);
        return nodeDecider.tenantOf(state, e);
      });
    };
    const placeFor = (agentId: string, clusterId: string, tenantId: string) =>
      cmd('PlaceAgent', { agentId, clusterId, tenantId, resources: { cpu: 1, memoryMb: 256 } });

    it("records an agent's assignment and release as its cluster's tenant's", () => {
      const placed = run([placeFor('a-b', 'cluster-b', 'tenant-b')], registeredH);
      expect(placed.at(-1)).toMatchObject({ type: 'AgentAssigned', data: { tenantId: 'tenant-b' } });
      expect(tenantOfEach(registeredH, placeFor('a-c', 'cluster-c', 'tenant-c'))).toEqual(['tenant-c']);
      expect(tenantOfEach(placed, release('a-b'))).toEqual(['tenant-b']);
      expect(tenantOfEach(placed, cmd('DeregisterNode', { force: true }))).toEqual(['tenant-b', '*']);
    });

    it("keeps a shared node's own lifecycle the platform's ('*'), whoever drives it", () => {
      expect(tenantOfEach([], register())).toEqual(['*']);
      expect(tenantOfEach(registeredH, cmd('CordonNode', {}))).toEqual(['*']);
      expect(tenantOfEach(withAgentsH, cmd('DrainNode', {}))).toEqual(['*']);
      expect(tenantOfEach(withAgentsH, cmd('MarkNodeOffline', {}))).toEqual(['*']);
      expect(nodeDecider.tenantOf(fold(nodeDecider, registeredH))).toBe('*');
      expect(nodeDecider.tenantOf(nodeDecider.initialState())).toBeNull();
    });

    it('refuses a placement that names a malformed tenant', () =>
      spec.given(registeredH).when(placeFor('a-x', 'cluster-x', 'Not A Tenant')).thenThrows(ValidationError));
  });
});
