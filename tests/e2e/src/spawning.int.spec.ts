// A cluster that cannot come up: with no node to run its agents it is degraded after the spawn
// timeout with the reason, and becomes active by itself once a node agent joins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, startStack, type Stack } from '@flotilla/testing';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: slow-start, name: Slow start, version: 1.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 2 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

describe('a cluster that does not come up in time', () => {
  let stack: Stack;
  let call: Stack['call'];

  beforeAll(async () => {
    stack = await startStack({ label: 'spawning', apps: ['orchestrator', 'registry', 'gateway'], env: { CLUSTER_SPAWN_TIMEOUT_MS: '3000' } });
    call = stack.call;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('is degraded with the reason after the spawn timeout, and active once a node can run its agents', async () => {
    expect((await call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
    const created = Date.now();
    expect((await call('POST', '/api/clusters?wait=true', { blueprint_id: 'slow-start', name: 'slow', cluster_id: 'slow' })).status).toBe(201);
    expect(['planning', 'spawning']).toContain((await call('GET', '/api/clusters/slow')).body.status);
    const degraded = await eventually(() => call('GET', '/api/clusters/slow/events?limit=100'), { until: (r) => (r.body.events as { type: string }[]).some((e) => e.type === 'ClusterDegraded'), timeoutMs: 15_000, intervalMs: 200, what: 'ClusterDegraded' });
    expect(Date.now() - created).toBeGreaterThanOrEqual(3000);
    const event = (degraded.body.events as { type: string; severity: string; data: { reason: string } }[]).find((e) => e.type === 'ClusterDegraded')!;
    expect(event.severity).toBe('error');
    expect(event.data.reason).toMatch(/^not active after 3 s: 2 pending \(2 cannot be placed: .+\)$/);
    expect((await call('GET', '/api/clusters/slow')).body.status).toBe('degraded');

    await stack.startNode({ id: 'node-late' }).waitFor();
    await eventually(async () => (await call('GET', '/api/clusters/slow')).body.status, { until: (s) => s === 'active', timeoutMs: 30_000, intervalMs: 200, what: 'active' });
    const types = ((await call('GET', '/api/clusters/slow/events?limit=100')).body.events as { type: string }[]).map((e) => e.type);
    expect(types).toContain('ClusterRecovered');
  }, 60_000);
});
