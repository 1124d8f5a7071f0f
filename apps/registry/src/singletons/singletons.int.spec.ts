import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import {
  registryRoutes as r,
  registrySubjects,
  SYSTEM_IDENTITY,
} from '@flotilla/contracts';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { Fence, FencedOutError, readLeadership } from '@flotilla/leadership';
import type { Messaging } from '@flotilla/messaging';
import { createReadModelOrm, type ReadModelOrm } from '@flotilla/projections';
import { eventually } from '@flotilla/testing';
import { FENCE } from '../infrastructure/tokens.js';
import {
  placementAgent,
  quietHeartbeat,
  startRegistryReplica,
  startRegistryTestBed,
  type RegistryReplica,
  type RegistryTestBed,
} from '../testing/registry-harness.js';
import { FAILURE_DETECTOR_ROLE, FailureDetector } from './failure-detector.js';
import { ReservationReaper } from './reservation-reaper.js';
import { SingletonLoops } from './singleton-loops.js';

const agent = (id: string) => placementAgent(id);

describe('registry singletons: failure detection, fencing, drain completion, reservation expiry, leadership', () => {
  let bed: RegistryTestBed;
  let a: RegistryReplica;
  let client: Messaging;
  let store: EventStore;
  let orm: ReadModelOrm;
  const alive = new Map<string, { agent_id: string; cluster_id: string; state: string }[]>();
  const lastSent = new Map<string, number>();

  beforeAll(async () => {
    bed = await startRegistryTestBed('reg_single', { RESERVATION_TTL_MS: '1500', LEASE_TTL_MS: '900' }, ['registry-a']);
    ({ client, store } = bed);
    a = bed.replicas[0]!;
    orm = await createReadModelOrm({ url: bed.db.url });
    bed.every(100, () => {
      for (const [id, agents] of alive) {
        lastSent.set(id, Date.now());
        client.publish(registrySubjects.heartbeat(id), quietHeartbeat(id, agents));
      }
    });
    for (const id of ['node-1', 'node-2', 'node-3']) {
      await client.request(r.registerNode, {
        node_id: id,
        hostname: id,
        address: '127.0.0.1',
        zone: 'zone-a',
        capacity: { cpu: 8, memory_mb: 8192, max_agents: 10 },
      });
      alive.set(id, []);
    }
  });

  afterAll(async () => {
    await orm?.close();
    await bed?.close([a]);
  });

  /** A row of the orchestrator's read model: the cluster wants this agent on this node, in this state. */
  const clusterWants = async (id: string, clusterId: string, nodeId: string, state: string) => {
    await orm.em.fork().execute(
      `INSERT INTO cluster_agents (id, cluster_id, tenant_id, name, role, ordinal, state, node_id, capabilities, runtime, reports_to, spec_hash, resources, reason, created_at, updated_at, position)
       VALUES (?, ?, 'default', 'worker', 'worker', 0, ?, ?, '[]', '{}', null, 'hash', '{}', null, now(), now(), 1)`,
      [id, clusterId, state, nodeId],
    );
  };

  const nodeEvents = async (nodeId: string, type: string): Promise<StoredEvent[]> =>
    (await store.readStream(`node-${nodeId}`)).filter((e) => e.type === type);

  it('suspects a silent node after 2 s, takes it offline after 3 s naming its agents, and recovers it when it beats again', async () => {
    const placed = await client.request(r.place, {
      cluster_id: 'cluster-fd',
      tenant_id: 'default',
      strategy: 'least-agents',
      agents: [agent('agent-fd-1'), agent('agent-fd-2'), agent('agent-fd-3')],
    });
    for (const x of placed.assignments)
      await clusterWants(x.agent_id, 'cluster-fd', x.node_id, 'idle');
    expect(placed.assignments.find((x) => x.agent_id === 'agent-fd-3')?.node_id).toBe('node-3');
    await eventually(
      () => a.get(SingletonLoops).leading.includes(FAILURE_DETECTOR_ROLE),
      { timeoutMs: 5000, what: 'failure detector elected' },
    );
    await eventually(
      async () => (await client.request(r.getNode, { id: 'node-3' })).usage !== null,
      { timeoutMs: 3000, what: 'node-3 heard from' },
    );
    alive.delete('node-3');
    const silentFrom = lastSent.get('node-3')!;
    const suspected = await eventually(
      async () => (await nodeEvents('node-3', 'NodeSuspected'))[0],
      { timeoutMs: 4000, what: 'NodeSuspected' },
    );
    const offline = await eventually(
      async () => (await nodeEvents('node-3', 'NodeWentOffline'))[0],
      { timeoutMs: 5000, what: 'NodeWentOffline' },
    );
    const suspectAfter = Date.parse(String(suspected.data['at'])) - silentFrom;
    const offlineAfter = Date.parse(String(offline.data['at'])) - silentFrom;
    expect(suspectAfter).toBeGreaterThanOrEqual(2000);
    expect(suspectAfter).toBeLessThan(2500);
    expect(offlineAfter).toBeGreaterThanOrEqual(3000);
    expect(offlineAfter).toBeLessThan(3500);
    expect(offline.data['agentIds']).toEqual(['agent-fd-3']);
    expect(offline.metadata).toMatchObject({
      actor: 'failure-detector',
      fencingTerm: expect.any(Number),
    });
    // The other nodes kept beating: nothing happened to them.
    expect(await nodeEvents('node-1', 'NodeSuspected')).toEqual([]);
    alive.set('node-3', []);
    await eventually(
      async () => (await nodeEvents('node-3', 'NodeRecovered'))[0],
      { timeoutMs: 3000, what: 'NodeRecovered' },
    );
    expect((await client.request(r.getNode, { id: 'node-3' })).status).toBe('online');
  });

  it("re-publishes an HTTP-only node's heartbeat (a request one replica answers) for every replica and the metrics service", async () => {
    await client.request(r.registerNode, {
      node_id: 'node-http',
      hostname: 'node-http',
      address: '127.0.0.1',
      zone: 'zone-a',
      capacity: { cpu: 2, memory_mb: 2048, max_agents: 2 },
    });
    const seen = client.nc.subscribe(client.subject(registrySubjects.heartbeat('node-http')), { max: 1 });
    await client.nc.flush();
    const sentAt = new Date().toISOString();
    const reply = await client.request(r.heartbeat, { node_id: 'node-http', sent_at: sentAt, cpu_percent: 12, memory_percent: 7, disk_percent: 3, load_avg: 0.1, agents: [] });
    expect(reply.status).toBe('online');
    const copy = await Promise.race([(async () => { for await (const m of seen) return m.json<{ node_id: string; sent_at: string; cpu_percent: number }>(); })(), new Promise((r) => setTimeout(() => r(null), 3000))]);
    expect(copy).toMatchObject({ node_id: 'node-http', sent_at: sentAt, cpu_percent: 12 });
    expect((await client.request(r.getNode, { id: 'node-http' })).usage?.cpu_percent).toBe(12);
    await client.request(r.deregisterNode, { id: 'node-http', force: true });
  });

  it("refuses a deposed leader's late write (fencing), whatever its view of the fleet says", async () => {
    const fence = a.get<Fence>(FENCE);
    const detector = a.get(FailureDetector);
    const current = (await readLeadership(client, 900)).find(
      (x) => x.role === FAILURE_DETECTOR_ROLE,
    )!;
    const deposedTerm = current.term! + 1;
    const deposed = new AbortController();
    // A leader with a term that is the highest so far starts (its election admission passes)...
    const run = detector.run(deposed.signal, deposedTerm).catch((e: unknown) => e);
    // Only the detector's own start-up admission can raise the mark to its term: wait for that,
    // so the refusal below is of a late write, not of a start-up that came after its successor.
    const marks = new pg.Client({ connectionString: bed.db.url });
    await marks.connect();
    try {
      await eventually(
        async () => (await marks.query<{ term: string }>('SELECT term FROM eventstore.fences WHERE role = $1', [FAILURE_DETECTOR_ROLE])).rows[0]?.term === String(deposedTerm),
        { timeoutMs: 5000, what: 'the deposed leader admitted its own term' },
      );
    } finally {
      await marks.end();
    }
    // ...then a successor is elected and admits its higher term, while the first one still runs.
    await fence.admit(FAILURE_DETECTOR_ROLE, deposedTerm + 1);
    const before = (await store.readStream('node-node-2')).length;
    alive.delete('node-2');
    // The deposed leader sees node-2 fall silent and tries to record it: refused, and it stops.
    const err = await run;
    alive.set('node-2', []);
    expect(err).toBeInstanceOf(FencedOutError);
    expect((err as FencedOutError).details).toMatchObject({
      reason: 'fenced_out',
      role: FAILURE_DETECTOR_ROLE,
      term: deposedTerm,
      current_term: deposedTerm + 1,
    });
    expect((await store.readStream('node-node-2')).length).toBe(before);
    deposed.abort();
  });

  it('completes a drain the log left half done (a draining node that is already empty)', async () => {
    // A history recorded before the decider emitted NodeDrained on the last release.
    await client.request(r.registerNode, {
      node_id: 'node-old',
      hostname: 'old',
      address: '127.0.0.1',
      zone: 'zone-b',
      capacity: { cpu: 2, memory_mb: 2048, max_agents: 2 },
    });
    alive.set('node-old', []);
    const [registered] = await store.readStream('node-node-old');
    const meta = {
      tenantId: SYSTEM_IDENTITY.tenantId,
      actor: 'legacy',
      correlationId: 'c',
      causationId: null,
      traceparent: null,
      schemaVersion: 1,
    };
    const at = new Date().toISOString();
    await store.append(
      'node-node-old',
      [
        {
          type: 'AgentAssigned',
          data: {
            nodeId: 'node-old',
            agentId: 'agent-old-1',
            clusterId: 'cluster-old',
            resources: { cpu: 1, memoryMb: 512 },
            at,
          },
          metadata: meta,
        },
        {
          type: 'NodeDrainStarted',
          data: { reason: 'drain', agentIds: ['agent-old-1'], at },
          metadata: meta,
        },
        {
          type: 'AgentReleased',
          data: {
            nodeId: 'node-old',
            agentId: 'agent-old-1',
            clusterId: 'cluster-old',
            reason: 'moved',
            at,
          },
          metadata: meta,
        },
      ],
      { expectedRevision: registered!.revision },
    );
    const drained = await eventually(
      async () => (await nodeEvents('node-old', 'NodeDrained'))[0],
      { timeoutMs: 5000, what: 'NodeDrained' },
    );
    expect(drained.metadata).toMatchObject({ actor: 'drain-completion' });
    expect((await client.request(r.getNode, { id: 'node-old' })).status).toBe('drained');
  });

  it('releases assignments nobody confirms after the TTL, and keeps those the node or the cluster confirms', async () => {
    const placed = await client.request(r.place, {
      cluster_id: 'cluster-ttl',
      tenant_id: 'default',
      strategy: 'round-robin',
      agents: ['agent-lost', 'agent-running', 'agent-wanted', 'agent-failed'].map(agent),
    });
    const nodeOf = Object.fromEntries(placed.assignments.map((x) => [x.agent_id, x.node_id]));
    // The node reports running two of them; the cluster (orchestrator read model) wants one where it is, and failed another.
    const reported = (id: string) => ({ agent_id: id, cluster_id: 'cluster-ttl', state: 'idle' });
    alive.set(nodeOf['agent-running']!, [
      ...(alive.get(nodeOf['agent-running']!) ?? []),
      reported('agent-running'),
    ]);
    alive.set(nodeOf['agent-failed']!, [
      ...(alive.get(nodeOf['agent-failed']!) ?? []),
      reported('agent-failed'),
    ]);
    await clusterWants('agent-wanted', 'cluster-ttl', nodeOf['agent-wanted']!, 'idle');
    await clusterWants('agent-failed', 'cluster-ttl', nodeOf['agent-failed']!, 'failed');
    const reaper = a.get(ReservationReaper);
    const term = (await readLeadership(client, 900)).find(
      (x) => x.role === 'reservation-reaper',
    )!.term!;
    await eventually(
      async () =>
        (await nodeEvents(nodeOf['agent-lost']!, 'AgentReleased')).some(
          (e) => e.data['agentId'] === 'agent-lost',
        ),
      { timeoutMs: 8000, what: 'agent-lost released' },
    );
    await eventually(
      async () =>
        (await nodeEvents(nodeOf['agent-failed']!, 'AgentReleased')).some(
          (e) => e.data['agentId'] === 'agent-failed',
        ),
      { timeoutMs: 8000, what: 'agent-failed released' },
    );
    // Another sweep changes nothing for the confirmed ones.
    expect(await reaper.sweep(term)).toEqual([]);
    const still = (await client.request(r.assignments, { cluster_id: 'cluster-ttl' })).assignments
      .map((x) => x.agent_id)
      .sort();
    expect(still).toEqual(['agent-running', 'agent-wanted']);
    const released = (await nodeEvents(nodeOf['agent-lost']!, 'AgentReleased')).find(
      (e) => e.data['agentId'] === 'agent-lost',
    )!;
    expect(String(released.data['reason'])).toMatch(/^reservation expired/);
    expect(released.metadata).toMatchObject({ actor: 'reservation-reaper' });
  });

  it('lists every role with its leader and members, hands a role over, and a second replica takes over within 2 s of a stop', async () => {
    const b = await startRegistryReplica(bed.env, 'registry-b');
    try {
      const view = await eventually(
        async () => {
          const l = await client.request(r.leadership, {});
          const fd = l.roles.find((x) => x.role === FAILURE_DETECTOR_ROLE);
          return fd?.members.length === 2 && l;
        },
        { timeoutMs: 5000, what: 'both replicas are members' },
      );
      expect(view.roles.map((x) => x.role)).toEqual(
        expect.arrayContaining([
          'drain-completion',
          'failure-detector',
          'projector-registry',
          'reservation-reaper',
        ]),
      );
      const fd = view.roles.find((x) => x.role === FAILURE_DETECTOR_ROLE)!;
      expect(fd).toMatchObject({ leader: 'registry-a', members: ['registry-a', 'registry-b'] });

      const after = await client.request(r.handover, {
        role: FAILURE_DETECTOR_ROLE,
        member_id: 'registry-b',
      });
      expect(after.roles.find((x) => x.role === FAILURE_DETECTOR_ROLE)?.leader).toBeDefined();
      await eventually(
        () =>
          b.get(SingletonLoops).leading.includes(FAILURE_DETECTOR_ROLE) &&
          !a.get(SingletonLoops).leading.includes(FAILURE_DETECTOR_ROLE),
        { timeoutMs: 3000, what: 'handover done' },
      );
      const handed = (await client.request(r.leadership, {})).roles.find(
        (x) => x.role === FAILURE_DETECTOR_ROLE,
      )!;
      expect(handed.leader).toBe('registry-b');
      expect(handed.term!).toBeGreaterThan(fd.term!);

      const stoppedAt = Date.now();
      await b.close();
      await eventually(
        () => a.get(SingletonLoops).leading.includes(FAILURE_DETECTOR_ROLE),
        { timeoutMs: 3000, what: 'registry-a leads again' },
      );
      expect(Date.now() - stoppedAt).toBeLessThan(2000);
    } finally {
      await b.close();
    }
  });
});
