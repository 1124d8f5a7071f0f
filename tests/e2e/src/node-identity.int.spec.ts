import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { Headers, orchestratorRoutes, registryRoutes, registrySubjects, routeSubject } from '@flotilla/contracts';
import { RuleViolationError, UnauthenticatedError, ValidationError } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { eventually, startStack, type Stack } from '@flotilla/testing';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ident, name: ident, version: 1.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 2, scaling: { enabled: false } }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: lead, runtime: { kind: builtin, handler: echo } }
`;

interface AgentRow {
  id: string;
  state: string;
  node_id: string | null;
}

describe('a node speaks for itself only, on its own subjects', () => {
  let stack: Stack;
  let client: Messaging;

  beforeAll(async () => {
    stack = await startStack({ label: 'node-identity', apps: ['orchestrator', 'registry', 'gateway'], nodes: [{ id: 'ident-a' }] });
    client = await Messaging.connect({ servers: [stack.ns.natsUrl], namespace: stack.ns.prefix, name: 'node-identity-test', requestTimeoutMs: 10_000 });
    expect((await stack.call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { id: 'ident-1', blueprint_id: 'ident', name: 'ident' })).status).toBe(201);
    await eventually(async () => (await stack.call('GET', '/api/clusters/ident-1')).body.status === 'active', { timeoutMs: 60_000, intervalMs: 200, what: 'cluster ident-1 active' });
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
  });

  const agents = async () => (await stack.call('GET', '/api/clusters/ident-1/agents')).body.agents as AgentRow[];
  const events = async () => (await stack.call('GET', '/api/clusters/ident-1/events?limit=1000')).body.events as { type: string; data: Record<string, unknown> }[];

  it('an agent report from a node the agent is not assigned to is refused and records nothing', async () => {
    const before = await agents();
    const worker = before.find((a) => a.node_id === 'ident-a' && a.state === 'idle')!;
    expect(worker).toBeDefined();
    const recorded = (await events()).length;
    // Another node claims the agent started there (before: a move, recorded as AgentReplaced).
    const started = await client
      .request(orchestratorRoutes.reportAgent, { cluster_id: 'ident-1', agent_id: worker.id, state: 'started' }, { node: 'ident-b' })
      .catch((e: unknown) => e);
    expect(started).toBeInstanceOf(RuleViolationError);
    expect((started as RuleViolationError).details).toMatchObject({ rule: 'agent_not_assigned', node_id: 'ident-b' });
    // A node id in the payload is no way around the subject.
    const aliased = await client
      .request(orchestratorRoutes.reportAgent, { cluster_id: 'ident-1', agent_id: worker.id, node_id: 'ident-a', state: 'stopped' }, { node: 'ident-b' })
      .catch((e: unknown) => e);
    expect(aliased).toBeInstanceOf(ValidationError);
    await new Promise((r) => setTimeout(r, 500));
    expect(await agents()).toEqual(before);
    expect((await events()).length).toBe(recorded);
  });

  it("the node's own report is taken, with the node as the actor", async () => {
    const worker = (await agents()).find((a) => a.node_id === 'ident-a' && a.state === 'idle')!;
    // The node repeats what it reported already: accepted (idempotent), and nothing new is recorded.
    const reply = await client.request(orchestratorRoutes.reportAgent, { cluster_id: 'ident-1', agent_id: worker.id, state: 'started' }, { node: 'ident-a' });
    expect(reply.recorded).toEqual([]);
    const startedBy = (await stack.call('GET', '/api/clusters/ident-1/events?limit=1000')).body.events.find(
      (e: { type: string; data: { agentId?: string } }) => e.type === 'AgentStarted' && e.data.agentId === worker.id,
    );
    expect(startedBy?.actor).toBe('node-agent:ident-a');
  });

  it("a heartbeat is its subject's node's: one naming another node is dropped", async () => {
    const usage = async () => (await stack.call('GET', '/api/cluster/nodes/ident-a')).body.usage as { cpu_percent: number } | null;
    // Another node's subject carrying ident-a's id and a reading ident-a never sent: 250.5 %, which
    // no node agent reports (it clamps to 100); 99.5 was once a real reading of a saturated machine.
    client.publish(registrySubjects.heartbeat('ident-zz'), { node_id: 'ident-a', sent_at: new Date().toISOString(), cpu_percent: 250.5, memory_percent: 1, disk_percent: 1, load_avg: 0, agents: [] });
    await client.nc.flush();
    await new Promise((r) => setTimeout(r, 150));
    expect((await usage())?.cpu_percent).not.toBe(250.5);
  });

  it('a request without identity headers is refused, not served as the all-tenant system', async () => {
    // What an unknown client sends: no Flotilla-Actor/Tenant/Role headers at all.
    const raw = await client.nc.request(`${stack.ns.prefix}.${orchestratorRoutes.listClusters.subject}`, JSON.stringify({}), { timeout: 5000 });
    expect(raw.json()).toMatchObject({ ok: false, error: { code: new UnauthenticatedError('x').code } });
    const h = natsHeaders();
    h.set(Headers.actor, 'key:ops');
    h.set(Headers.tenant, '*');
    h.set(Headers.role, 'admin');
    const asserted = await client.nc.request(`${stack.ns.prefix}.${orchestratorRoutes.listClusters.subject}`, JSON.stringify({}), { timeout: 5000, headers: h });
    expect(asserted.json()).toMatchObject({ ok: true });
    // A node's own registration needs no header: its subject says which node (and only its NATS user may publish it).
    const own = await client.nc.request(`${stack.ns.prefix}.${routeSubject(registryRoutes.drainOwnNode, 'ident-zz')}`, JSON.stringify({}), { timeout: 5000 });
    expect(own.json()).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});
