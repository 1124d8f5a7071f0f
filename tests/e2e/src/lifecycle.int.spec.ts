import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { EventWatcher, expectEventsExactlyOnceInOrder, grpcClient, grpcLifecycle, MARKETING_YAML, restLifecycle, settled } from './lifecycle.js';

/**
 * The whole lifecycle of marketing.yaml through REST and through gRPC,
 * with every service and two node agents as processes on real NATS and PostgreSQL; a plain NATS
 * subscriber sees each cluster event once, in order; bad input is refused with the right status.
 */
describe('cluster lifecycle', () => {
  let stack: Stack;
  let watcher: EventWatcher;
  const nodes = ['node-l1', 'node-l2'];

  beforeAll(async () => {
    stack = await startStack({
      label: 'lifecycle',
      nodes: [
        { id: nodes[0]!, zone: 'zone-a', cpu: '16' },
        { id: nodes[1]!, zone: 'zone-b', cpu: '16' },
      ],
    });
    watcher = await EventWatcher.start(stack);
  }, 120_000);

  afterAll(async () => {
    await watcher?.stop();
    await stack?.stop();
  }, 60_000);

  it('runs marketing.yaml through its whole lifecycle over REST; a NATS subscriber sees every event once and in order', async () => {
    await restLifecycle(stack.call, 'mkt-rest', nodes);
    await expectEventsExactlyOnceInOrder(stack.call, watcher, 'mkt-rest');
  }, 300_000);

  it('runs the same lifecycle over gRPC', async () => {
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      await grpcLifecycle(client.call, 'mkt-grpc');
    } finally {
      client.close();
    }
    await expectEventsExactlyOnceInOrder(stack.call, watcher, 'mkt-grpc');
  }, 300_000);

  it('refuses bad input with 400 naming every bad path, 404 for unknown ids, 422 with the rule, and changes nothing', async () => {
    const bad = MARKETING_YAML.replace('id: marketing-v1', 'id: Bad Id!').replace('minWorkers: 3', 'minWorkers: -1').replace('kind: builtin, handler: echo }\n    resources', 'kind: teleport }\n    resources');
    const refused = await stack.call('POST', '/api/blueprints', bad);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    const paths = (refused.body.error.details.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['metadata.id', 'cluster.minWorkers', 'agents[0].runtime.kind']));
    expect((await stack.call('GET', '/api/blueprints/Bad%20Id!')).status).toBeGreaterThanOrEqual(400);

    expect((await stack.call('GET', '/api/clusters/no-such-cluster')).status).toBe(404);
    expect((await stack.call('GET', '/api/blueprints/no-such-blueprint')).status).toBe(404);
    const unknownScale = await stack.call('POST', '/api/clusters/no-such-cluster/scale', { target_workers: 2 });
    expect(unknownScale.status).toBe(404);
    expect(unknownScale.body.error.code).toBe('not_found');

    await stack.call('POST', '/api/blueprints?wait=true', MARKETING_YAML);
    expect((await stack.call('POST', '/api/clusters?wait=true', { blueprint_id: 'marketing-v1', name: 'bounds', cluster_id: 'mkt-bounds' })).status).toBe(201);
    // Only this test may move the target: the autoscaler scales on the nodes' real CPU, which a loaded machine raises.
    expect((await stack.call('PUT', '/api/clusters/mkt-bounds', { policy: { enabled: false } })).status).toBe(200);
    await settled(stack.call, 'mkt-bounds', 6);
    const above = await stack.call('POST', '/api/clusters/mkt-bounds/scale', { target_workers: 21 });
    expect(above.status).toBe(422);
    expect(above.body.error.details.rule).toBe('target_above_max');
    const notNumber = await stack.call('POST', '/api/clusters/mkt-bounds/scale', { target_workers: 'ten' });
    expect(notNumber.status).toBe(400);
    expect(JSON.stringify(notNumber.body.error.details)).toContain('target_workers');
    expect((await stack.call('GET', '/api/clusters/mkt-bounds')).body.target_workers).toBe(6);
    // A time filter that is not a time is the caller's mistake, named, not a server error.
    for (const path of ['/api/clusters/mkt-bounds/events?since=yesterday-ish', '/api/clusters/mkt-bounds/metrics?since=junk']) {
      const bad = await stack.call('GET', path);
      expect([path, bad.status, JSON.stringify(bad.body.error?.details ?? {}).includes('since')]).toEqual([path, 400, true]);
    }
  }, 180_000);

  it('two concurrent scales of one cluster both succeed in some order or one gets 409: never a lost update', async () => {
    for (let round = 0; round < 5; round++) {
      const targets = [7 + round, 12 + round];
      const replies = await Promise.all(targets.map((t) => stack.call('POST', '/api/clusters/mkt-bounds/scale?wait=true', { target_workers: t })));
      const statuses = replies.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
      expect(statuses).toContain(200);
      const accepted = targets.filter((_, i) => statuses[i] === 200);
      // Every accepted scale is in the log, and the cluster ends where the last of them says.
      const log = ((await stack.call('GET', '/api/clusters/mkt-bounds/events?limit=1000')).body.events as { type: string; position: string; data: { to: number } }[])
        .filter((e) => e.type === 'ClusterScalingStarted')
        .sort((x, y) => (BigInt(x.position) < BigInt(y.position) ? -1 : 1));
      const recent = log.slice(-accepted.length).map((e) => e.data.to);
      expect([...recent].sort()).toEqual([...accepted].sort());
      expect((await stack.call('GET', '/api/clusters/mkt-bounds')).body.target_workers).toBe(recent.at(-1));
    }
  }, 120_000);
});
