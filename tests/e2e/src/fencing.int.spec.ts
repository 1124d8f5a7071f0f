import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { orchestratorRoutes } from '@flotilla/contracts';
import { ConcurrencyError } from '@flotilla/domain';
import { LeaderElection } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import { eventually, startStack, type Stack } from '@flotilla/testing';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: fenced, name: fenced, version: 1.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 4, scaling: { enabled: false } }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: lead, runtime: { kind: builtin, handler: echo } }
`;

describe('fencing terms come from the lease, not from a request', () => {
  let stack: Stack;
  let client: Messaging;

  beforeAll(async () => {
    // No autoscaler runs: the test plays it, and a forger.
    stack = await startStack({ label: 'fencing', apps: ['orchestrator', 'registry', 'gateway'], nodes: [{ id: 'fence-node' }] });
    client = await Messaging.connect({ servers: [stack.ns.natsUrl], namespace: stack.ns.prefix, name: 'fencing-test', requestTimeoutMs: 10_000 });
    expect((await stack.call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { id: 'fenced-1', blueprint_id: 'fenced', name: 'fenced' })).status).toBe(201);
    await eventually(async () => (await stack.call('GET', '/api/clusters/fenced-1')).body.status === 'active', { timeoutMs: 60_000, intervalMs: 200, what: 'cluster fenced-1 active' });
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
  });

  const decide = (term: number, target: number) =>
    client.request(orchestratorRoutes.applyScalingDecision, { cluster_id: 'fenced-1', decision: 'up', target, reason: 'test', rule: 'test', inputs: {}, term });
  const decisions = async () => ((await stack.call('GET', '/api/clusters/fenced-1/events?limit=1000')).body.events as { type: string }[]).filter((e) => e.type === 'ScalingDecided').length;

  it("refuses an autoscaler decision whose term is not the autoscaler lease's, and records nothing", async () => {
    // Nobody holds the autoscaler lease: a forged (huge) term is refused, not admitted.
    const forged = await decide(2 ** 40, 3).catch((e: unknown) => e);
    expect(forged).toBeInstanceOf(ConcurrencyError);
    expect((forged as ConcurrencyError).details).toMatchObject({ reason: 'fenced_out', role: 'autoscaler' });

    const autoscaler = new LeaderElection(client, { role: 'autoscaler', memberId: 'test-autoscaler', ttlMs: 2000 });
    await autoscaler.start();
    await eventually(() => autoscaler.isLeader, { timeoutMs: 5000, intervalMs: 50, what: 'the test holding the autoscaler lease' });
    const term = autoscaler.term!;
    // The current leader's term passes; an older one (a deposed leader) does not.
    expect((await decide(term, 2)).result.target_workers).toBe(2);
    const stale = await decide(term - 1, 3).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConcurrencyError);
    await autoscaler.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(await decisions()).toBe(1);
  });
});
