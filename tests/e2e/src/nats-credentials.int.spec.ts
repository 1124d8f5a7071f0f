import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { integratorUser, natsAuthorizationConfig, serviceUser } from '@flotilla/contracts';
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
        integratorUser('tenant-a', 'a-secret'),
        integratorUser('tenant-b', 'b-secret'),
      ]),
    );
    const orchestrator = await as('flotilla-orchestrator', 'orch-secret');
    const jsm = await jetstreamManager(orchestrator);
    await jsm.streams.add({ name: 'FLOTILLA_EVENTS', subjects: ['flotilla.events.>'] });
    const js = jetstream(orchestrator);
    await js.publish('flotilla.events.tenant-a.cluster.c-a.ClusterCreated', JSON.stringify({ tenant: 'a' }));
    await js.publish('flotilla.events.tenant-b.cluster.c-b.ClusterCreated', JSON.stringify({ tenant: 'b' }));
  });

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server.stop();
  });

  it("lets a tenant's integrator read its own events and refuses the other tenant's", async () => {
    const a = await as('integrator-tenant-a', 'a-secret');
    expect(await refused(a, 'flotilla.events.tenant-b.>')).toBe(true);
    const a2 = await as('integrator-tenant-a', 'a-secret');
    expect(await refused(a2, 'flotilla.events.>')).toBe(true);
    const a3 = await as('integrator-tenant-a', 'a-secret');
    expect(await refused(a3, 'flotilla.events.tenant-a.>')).toBe(false);
  });

  it("replays the tenant's own events from JetStream, and only those", async () => {
    const a = await as('integrator-tenant-a', 'a-secret');
    const consumer = await jetstream(a).consumers.get('FLOTILLA_EVENTS', { filter_subjects: 'flotilla.events.tenant-a.>' });
    const m = await consumer.next({ expires: 2000 });
    expect(m?.json()).toEqual({ tenant: 'a' });
    const b = await as('integrator-tenant-b', 'b-secret');
    await expect(jetstream(b).consumers.get('FLOTILLA_EVENTS', { filter_subjects: 'flotilla.events.tenant-a.>' }).then((c) => c.next({ expires: 1000 }))).rejects.toThrow();
  });

  it('keeps a node agent out of the orchestrator subjects', async () => {
    const node = await as('flotilla-node-agent', 'node-secret');
    expect(await refused(node, 'orchestrator.>')).toBe(true);
  });

  it('refuses unknown users', async () => {
    await expect(connect({ servers: server.url, user: 'nobody', pass: 'x' })).rejects.toThrow();
  });
});
