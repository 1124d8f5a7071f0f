import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fs from 'node:fs';
import path from 'node:path';
import { integratorUser, natsAuthorizationConfig, natsPasswordVariable, nodeAgentUser, SERVICES, serviceUser } from '@flotilla/contracts';
import { startNatsServer, type PrivateNatsServer } from '@flotilla/testing';

/** Waits for the server to refuse a subscription (permission errors arrive asynchronously). */
async function refused(nc: NatsConnection, subject: string): Promise<boolean> {
  const sub = nc.subscribe(subject);
  const outcome = await Promise.race([sub.closed.then((e) => (e instanceof Error ? 'refused' : 'closed')), new Promise((r) => setTimeout(() => r('open'), 1000))]);
  if (outcome === 'open') sub.unsubscribe();
  return outcome === 'refused';
}

describe('NATS credentials: each service and integrator limited to its subjects', () => {
  let server: PrivateNatsServer;
  const conns: NatsConnection[] = [];
  const as = async (user: string, pass: string) => {
    const nc = await connect({ servers: server.url, user, pass });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await startNatsServer(
      natsAuthorizationConfig([
        serviceUser('orchestrator', 'orch-secret'),
        serviceUser('node-agent', 'node-secret'),
        nodeAgentUser('node-a', 'flotilla-node-agent-1', 'node-a-secret'),
        serviceUser('metrics', 'metrics-secret'),
        integratorUser('tenant-a', 'a-secret'),
        integratorUser('tenant-b', 'b-secret'),
      ]),
    );
    const orchestrator = await as('flotilla-orchestrator', 'orch-secret');
    const jsm = await jetstreamManager(orchestrator);
    await jsm.streams.add({ name: 'FLOTILLA_EVENTS', subjects: ['flotilla.events.>'] });
    await jetstream(orchestrator).publish('flotilla.events.cluster.c-a.ClusterCreated', JSON.stringify({ tenant: 'a' }));
    publisher = orchestrator;
  });

  let publisher: NatsConnection;
  // What the relay does after storing an event: the live copy under its tenant.
  const publishTenantEvents = () => {
    publisher.publish('flotilla.tenants.tenant-a.events.cluster.c-a.ClusterCreated', JSON.stringify({ tenant: 'a' }));
    publisher.publish('flotilla.tenants.tenant-b.events.cluster.c-b.ClusterCreated', JSON.stringify({ tenant: 'b' }));
  };

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server.stop();
  });

  it("lets a tenant's integrator follow its own live events and refuses every other subscription", async () => {
    const a = await as('integrator-tenant-a', 'a-secret');
    const sub = a.subscribe('flotilla.tenants.tenant-a.events.>');
    const wide = a.subscribe('flotilla.tenants.*.events.>');
    await a.flush();
    publishTenantEvents();
    const first = await Promise.race([(async () => { for await (const m of sub) return m.json(); })(), new Promise((r) => setTimeout(() => r('nothing'), 2000))]);
    expect(first).toEqual({ tenant: 'a' });
    expect(await wide.closed.then((e) => e instanceof Error)).toBe(true);
    for (const subject of ['flotilla.tenants.tenant-b.events.>', 'flotilla.events.>', '_INBOX.>', 'orchestrator.>', '>']) {
      expect(await refused(await as('integrator-tenant-a', 'a-secret'), subject)).toBe(true);
    }
  });

  it('gives an integrator no JetStream access (the stream holds every tenant) and nothing to publish', async () => {
    const a = await as('integrator-tenant-a', 'a-secret');
    await expect(jetstream(a, { timeout: 1500 }).consumers.get('FLOTILLA_EVENTS').then((c) => c.next({ expires: 1000 }))).rejects.toThrow();
    a.publish('flotilla.events.cluster.c-a.ClusterDeleted', 'forged');
    await a.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const info = await (await jetstreamManager(publisher)).streams.info('FLOTILLA_EVENTS');
    expect(info.state.messages).toBe(1);
  });

  it('keeps a node agent out of the orchestrator subjects', async () => {
    const node = await as('flotilla-node-agent', 'node-secret');
    expect(await refused(node, 'orchestrator.>')).toBe(true);
  });

  it("lets a node agent heartbeat for its own node only (the runner's per-node users)", async () => {
    const metrics = await as('flotilla-metrics', 'metrics-secret');
    const got: string[] = [];
    const beats = metrics.subscribe('registry.heartbeats.*', { callback: (_err, m) => void got.push(`${m.subject}:${m.string()}`) });
    await metrics.flush();
    const nodeA = await as('flotilla-node-agent-1', 'node-a-secret');
    nodeA.publish('registry.heartbeats.node-b', 'forged');
    nodeA.publish('registry.heartbeats.node-a', 'own');
    await nodeA.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    beats.unsubscribe();
    expect(got).toEqual(['registry.heartbeats.node-a:own']);
  });

  it('refuses unknown users', async () => {
    await expect(connect({ servers: server.url, user: 'nobody', pass: 'x' })).rejects.toThrow();
  });
});

describe("the deployments' NATS users (deploy/nats/auth.conf) on a real nats-server", () => {
  const file = path.resolve(import.meta.dirname, '..', '..', '..', 'deploy', 'nats', 'auth.conf');
  const passwords = Object.fromEntries(SERVICES.map((s) => [natsPasswordVariable(s), `pw-${s}-${process.pid}`]));
  let server: PrivateNatsServer;
  const conns: NatsConnection[] = [];
  const as = async (service: (typeof SERVICES)[number]) => {
    const nc = await connect({ servers: server.url, user: `flotilla-${service}`, pass: passwords[natsPasswordVariable(service)]! });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await startNatsServer(fs.readFileSync(file, 'utf8'), { env: passwords });
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
  });

  it('lets every service in with the password from the server environment, and no one with another', async () => {
    for (const service of SERVICES) await (await as(service)).flush();
    await expect(connect({ servers: server.url, user: 'flotilla-orchestrator', pass: passwords[natsPasswordVariable('gateway')]! })).rejects.toThrow();
  });

  it('holds each service to its subjects: a node agent may heartbeat but not command the orchestrator', async () => {
    const node = await as('node-agent');
    expect(await refused(node, 'orchestrator.>')).toBe(true);
    const metrics = await as('metrics');
    const beats = metrics.subscribe('registry.heartbeats.*', { max: 1 });
    await metrics.flush();
    node.publish('registry.heartbeats.node-a', 'beat');
    await node.flush();
    for await (const m of beats) expect(m.string()).toBe('beat');
  });

  it('does not start without the passwords in its environment (no user is left without one)', async () => {
    await expect(startNatsServer(fs.readFileSync(file, 'utf8'))).rejects.toThrow(/did not start/);
  });
});
