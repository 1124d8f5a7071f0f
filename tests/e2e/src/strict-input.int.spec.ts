import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startStack, type Stack } from '@flotilla/testing';

/**
 * Strict input: a body field an endpoint does not know is a 400 naming it, never
 * silently dropped; the seeds' bodies (seed 002's node registration, a cluster with a
 * client-chosen `id`) are accepted as they are.
 */
const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: strict-v1, name: Strict, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 2 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

interface ErrorBody {
  error: { code: string; details: { issues: { path: string; message: string }[] } };
}
const paths = (body: ErrorBody) => body.error.details.issues.map((i) => i.path).sort();

describe('strict input and the seeds’ bodies', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ label: 'strict_input', apps: ['orchestrator', 'registry', 'gateway'] });
    expect((await stack.call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("registers a node from seed 002's body as it is (id, hostname, ip_address, port, max_agents, services)", async () => {
    const res = await stack.call('POST', '/api/cluster/nodes', {
      id: 'node-2',
      hostname: 'worker1',
      ip_address: '10.0.0.2',
      port: 8152,
      max_agents: 20,
      services: ['wrapper', 'database'],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: 'node-2',
      hostname: 'worker1',
      address: '10.0.0.2:8152',
      services: ['database', 'wrapper'],
      capacity: { max_agents: 20 },
    });
    expect((await stack.call('GET', '/api/cluster/nodes/node-2')).body).toMatchObject({ id: 'node-2', capacity: { max_agents: 20 } });
  });

  it('creates a cluster under the client-chosen `id` of the body (cluster_id stays an alias)', async () => {
    const res = await stack.call('POST', '/api/clusters?wait=true', { id: 'strict-c1', blueprint_id: 'strict-v1', name: 'by id' });
    expect([res.status, res.body.id]).toEqual([201, 'strict-c1']);
    expect((await stack.call('GET', '/api/clusters/strict-c1')).status).toBe(200);
    const alias = await stack.call('POST', '/api/clusters?wait=true', { cluster_id: 'strict-c2', blueprint_id: 'strict-v1', name: 'by alias' });
    expect([alias.status, alias.body.id]).toEqual([201, 'strict-c2']);
  });

  it('refuses a body field the endpoint does not know with 400, naming its path', async () => {
    const typo = await stack.call('POST', '/api/clusters', { blueprint_id: 'strict-v1', name: 'typo', target_worker: 2 });
    expect([typo.status, typo.body.error.code, paths(typo.body)]).toEqual([400, 'validation_failed', ['target_worker']]);
    const scale = await stack.call('POST', '/api/clusters/strict-c1/scale', { target_workers: 1, force: true });
    expect([scale.status, paths(scale.body)]).toEqual([400, ['force']]);
    const nested = await stack.call('POST', '/api/cluster/nodes', {
      node_id: 'node-x',
      hostname: 'x',
      address: '10.0.0.9',
      capacity: { cpu: 1, memory_mb: 512, max_agents: 2, gpus: 1 },
      colour: 'blue',
    });
    expect([nested.status, paths(nested.body)]).toEqual([400, ['capacity.gpus', 'colour']]);
    // Nothing of a refused request happened.
    expect((await stack.call('GET', '/api/cluster/nodes/node-x')).status).toBe(404);
    expect((await stack.call('GET', '/api/clusters/strict-c1')).body.target_workers).toBe(0);
  });
});
