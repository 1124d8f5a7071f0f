import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  SYSTEM_IDENTITY,
  registryRoutes as r,
  registrySubjects,
  type PlaceReply,
  type PlaceRequest,
} from '@flotilla/contracts';
import { fold, nodeDecider, type NodeEvent } from '@flotilla/domain';
import type { EventStore } from '@flotilla/eventstore';
import type { Messaging } from '@flotilla/messaging';
import { eventually } from '@flotilla/testing';
import { systemContext } from '../infrastructure/request-context.js';
import { NodeDirectory } from '../nodes/node-directory.js';
import {
  placementAgent,
  quietHeartbeat,
  startRegistryTestBed,
  type RegistryReplica,
  type RegistryTestBed,
} from '../testing/registry-harness.js';
import { PlacementService } from './placement.service.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const MAX_AGENTS = 4;

const agent = (id: string) => placementAgent(id);
const request = (clusterId: string, ids: string[]): PlaceRequest => ({
  cluster_id: clusterId,
  tenant_id: SYSTEM_IDENTITY.tenantId,
  strategy: 'least-agents',
  constraints: {
    required_services: [],
    required_labels: {},
    zone_spread: false,
    anti_affinity: false,
  },
  agents: ids.map(agent),
  keep_source: false,
});

describe('concurrent placements on two replicas never overbook a node', () => {
  let bed: RegistryTestBed;
  let a: RegistryReplica;
  let b: RegistryReplica;
  let client: Messaging;
  let store: EventStore;

  beforeAll(async () => {
    bed = await startRegistryTestBed('reg_conc', { RESERVATION_TTL_MS: '600000' }, [
      'registry-a',
      'registry-b',
    ]);
    ({ client, store } = bed);
    [a, b] = bed.replicas as [RegistryReplica, RegistryReplica];
    for (const id of NODES) {
      await client.request(r.registerNode, {
        node_id: id,
        hostname: id,
        address: '127.0.0.1',
        zone: 'zone-a',
        capacity: { cpu: 8, memory_mb: 8192, max_agents: MAX_AGENTS },
      });
    }
    bed.every(250, () => {
      for (const id of NODES) client.publish(registrySubjects.heartbeat(id), quietHeartbeat(id));
    });
  });

  afterAll(async () => {
    await bed?.close([a, b]);
  });

  /** What the log says each node holds: the source of truth, folded with the node decider. */
  const recordedLoad = async () => {
    const out: Record<string, number> = {};
    for (const id of NODES) {
      const events = await store.readStream(`node-${id}`);
      const state = fold(
        nodeDecider,
        events.map((e) => ({ type: e.type, data: e.data }) as unknown as NodeEvent),
      );
      out[id] = state.status === 'none' ? 0 : Object.keys(state.assignments).length;
    }
    return out;
  };

  it('fills the last two slots exactly once when two replicas decide at the same moment', async () => {
    const fill = await client.request(
      r.place,
      request(
        'cluster-fill',
        Array.from({ length: 10 }, (_, i) => `agent-fill-${i}`),
      ),
    );
    expect(fill.assignments).toHaveLength(10);
    // Both replicas see the same nearly full fleet (2 slots left) before they decide.
    for (const replica of [a, b]) {
      await eventually(
        () =>
          [...replica.get(NodeDirectory).entries()].reduce((n, e) => n + e.state.used.agents, 0) ===
          10,
        { timeoutMs: 5000, what: `${replica.instanceId} caught up` },
      );
    }
    const ctx = systemContext('test');
    const replies: PlaceReply[] = await Promise.all([
      a.get(PlacementService).place(request('cluster-x', ['agent-x-1', 'agent-x-2']), ctx),
      b.get(PlacementService).place(request('cluster-y', ['agent-y-1', 'agent-y-2']), ctx),
      client.request(r.place, request('cluster-z', ['agent-z-1', 'agent-z-2'])),
    ]);
    const placed = replies.flatMap((x) => x.assignments);
    const unplaced = replies.flatMap((x) => x.unplaced);
    expect(placed).toHaveLength(2);
    expect(unplaced).toHaveLength(4);
    for (const u of unplaced) expect(u.reason).toMatch(/insufficient_capacity/);
    const load = await recordedLoad();
    expect(Object.values(load).reduce((x, y) => x + y, 0)).toBe(12);
    for (const id of NODES) expect(load[id]).toBeLessThanOrEqual(MAX_AGENTS);
  });

  it('keeps the invariant under a burst of concurrent requests through the queue group', async () => {
    await client.request(r.release, {
      cluster_id: 'cluster-fill',
      agent_ids: Array.from({ length: 6 }, (_, i) => `agent-fill-${i}`),
    });
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        client.request(
          r.place,
          request(`cluster-burst-${i}`, [`agent-burst-${i}-a`, `agent-burst-${i}-b`]),
        ),
      ),
    );
    const placed = burst.flatMap((x) => x.assignments);
    expect(placed).toHaveLength(6);
    const load = await recordedLoad();
    for (const id of NODES) expect(load[id]).toBe(MAX_AGENTS);
    for (const replica of [a, b]) {
      await eventually(
        () =>
          [...replica.get(NodeDirectory).entries()].every(
            (e) => e.reserved.size === 0 && e.state.used.agents === MAX_AGENTS,
          ),
        { timeoutMs: 5000, what: `${replica.instanceId} settled` },
      );
    }
  });
});
