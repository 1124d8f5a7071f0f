import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { api, eventually, startNatsCluster, startStack, type PrivateNatsCluster, type Stack } from '@flotilla/testing';
import { FIXED_AGENTS, restLifecycle, settled } from './lifecycle.js';

/**
 * High availability: a 3-node NATS cluster (clustered JetStream, every stream and bucket with
 * 3 replicas) and 2 replicas of every service. The lifecycle passes; a NATS node killed mid-run
 * loses no event; one replica of each service killed mid-run loses no acknowledged command.
 */
describe('high availability', () => {
  let nats: PrivateNatsCluster;
  let stack: Stack;
  let store: EventStore;
  const nodes = ['node-h1', 'node-h2'];

  /** The REST API through whichever gateway replica answers (a client with two endpoints). */
  const call: Stack['call'] = async (method, path, body, headers) => {
    let lastError: unknown;
    for (const url of stack.gatewayUrls) {
      try {
        return await api(url)(method, path, body, headers);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  };

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    stack = await startStack({
      label: 'ha',
      natsUrls: nats.urls,
      replicas: 2,
      nodes: [
        { id: nodes[0]!, zone: 'zone-a', cpu: '16' },
        { id: nodes[1]!, zone: 'zone-b', cpu: '16' },
      ],
      env: { NATS_STREAM_REPLICAS: '3', LEASE_TTL_MS: '3000' },
    });
    store = await createEventStore({ kind: 'postgres', url: stack.db.url });
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await stack?.stop();
    await nats?.stop();
  }, 90_000);

  /** Every event of a cluster's stream, as JetStream holds it (an ordered consumer from the start). */
  const streamed = async (clusterId: string): Promise<{ id: string; revision: number }[]> => {
    const nc = await connect({ servers: nats.urls.filter((_, i) => nats.nodes[i]!.running()) });
    try {
      const consumer = await jetstream(nc).consumers.get(stack.ns.ns.stream('FLOTILLA_EVENTS'), {
        filter_subjects: `${stack.ns.prefix}.flotilla.events.cluster.${clusterId}.>`,
        deliver_policy: DeliverPolicy.All,
      });
      const out: { id: string; revision: number }[] = [];
      for (;;) {
        const m = await consumer.next({ expires: 2000 });
        if (!m) break;
        out.push(m.json());
        if (m.info.pending === 0) break;
      }
      return out;
    } finally {
      await nc.close();
    }
  };

  /** JetStream, the read models and the event store hold the same events of the cluster, in order. */
  const expectAgreement = async (clusterId: string) => {
    let seen = { store: 0, nats: 0, readModels: 0, firstDifference: -1 };
    await eventually(async () => {
      const logged = (await store.readStream(`cluster-${clusterId}`)).map((e) => e.id);
      const onNats = (await streamed(clusterId)).map((e) => e.id);
      const projected = ((await call('GET', `/api/clusters/${clusterId}/events?limit=1000`)).body.events as { id: string; stream: string; position: string }[])
        .filter((e) => e.stream === `cluster-${clusterId}`)
        .sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1))
        .map((e) => e.id);
      const same = (xs: string[]) => xs.length === logged.length && xs.every((x, i) => x === logged[i]);
      seen = { store: logged.length, nats: onNats.length, readModels: projected.length, firstDifference: logged.findIndex((x, i) => onNats[i] !== x || projected[i] !== x) };
      // Events keep coming while the reconciler settles: compare snapshots until they line up.
      return logged.length > 0 && same(onNats) && same(projected);
    }, { timeoutMs: 30_000, intervalMs: 100, what: () => `JetStream, read models and event store agree on ${clusterId} (${JSON.stringify(seen)})` });
  };

  it('the full lifecycle passes on a 3-node NATS cluster with 2 replicas of every service', async () => {
    await restLifecycle(call, 'ha-life', nodes);
    await expectAgreement('ha-life');
  }, 300_000);

  it('killing one NATS node mid-run loses no event: JetStream and the read models agree with the event store', async () => {
    expect((await call('POST', '/api/clusters?wait=true', { blueprint_id: 'marketing-v1', name: 'nats kill', cluster_id: 'ha-nats' })).status).toBe(201);
    await settled(call, 'ha-nats', 6);
    const acked: string[] = [];
    const victim = nats.nodes[1]!;
    for (let i = 0; i < 16; i++) {
      if (i === 5) await victim.kill('SIGKILL');
      const res = await call('POST', '/api/clusters/ha-nats/scale', { target_workers: i % 2 ? 8 : 7 }).catch(() => undefined);
      // An acknowledged change names the log position of its last event.
      if (res?.status === 200 && res.headers.get('flotilla-position')) acked.push(res.headers.get('flotilla-position')!);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(acked.length).toBeGreaterThan(8);
    const logged = new Set((await store.readStream('cluster-ha-nats')).map((e) => e.position.toString()));
    for (const position of acked) expect(logged).toContain(position);
    await expectAgreement('ha-nats');
    await victim.restart();
  }, 240_000);

  it('killing one replica of each service mid-run loses no acknowledged command', async () => {
    const acked: { target: number; position: string }[] = [];
    const killed: string[] = [];
    for (let i = 0; i < 24; i++) {
      if (i === 6) {
        for (const app of ['gateway', 'orchestrator', 'registry', 'metrics', 'autoscaler']) {
          stack.procs.get(`${app}-1`)!.kill('SIGKILL');
          killed.push(`${app}-1`);
        }
      }
      const target = i % 2 ? 5 : 6;
      const res = await call('POST', '/api/clusters/ha-nats/scale', { target_workers: target }).catch(() => undefined);
      const position = res?.status === 200 ? res.headers.get('flotilla-position') : null;
      if (position) acked.push({ target, position });
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(killed).toHaveLength(5);
    // Commands answered after the kill prove the survivors took over.
    expect(acked.length).toBeGreaterThan(12);
    const logged = await store.readStream('cluster-ha-nats');
    const positions = new Set(logged.map((e) => e.position.toString()));
    for (const a of acked) expect(positions).toContain(a.position);
    // The survivors still run the whole loop: the last acknowledged target is reached.
    const last = acked.at(-1)!.target;
    await eventually(async () => {
      const c = (await call('GET', '/api/clusters/ha-nats')).body;
      return c.status === 'active' && c.current_workers === last && c.running_agents === FIXED_AGENTS + last && c;
    }, { timeoutMs: 90_000, intervalMs: 100, what: `ha-nats settles at ${last} workers on the surviving replicas` });
    await expectAgreement('ha-nats');
  }, 300_000);
});
