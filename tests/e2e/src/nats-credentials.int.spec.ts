import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { COMPOSE_NODES, CONTROL_PLANE_SERVICES, K8S_NODE_AGENT_SLOTS, integratorUser, natsAuthorizationConfig, natsInboxPrefix, natsPasswordVariable, nodeAgentPasswordVariable, nodeAgentUser, nodeAgentUserName, serviceUser, type NatsUser } from '@flotilla/contracts';
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
  // Each user's replies come to its own inbox prefix: `_INBOX.>` is nobody's to subscribe to.
  const as = async (user: string, pass: string) => {
    const nc = await connect({ servers: server.url, user, pass, inboxPrefix: natsInboxPrefix(user) });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await startNatsServer(
      natsAuthorizationConfig([
        serviceUser('orchestrator', 'orch-secret'),
        nodeAgentUser('node-b', 'flotilla-node-agent-2', 'node-b-secret'),
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
    const node = await as('flotilla-node-agent-2', 'node-b-secret');
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
  // One user per control-plane service and one per compose node agent, each with its own password.
  const logins = [
    ...CONTROL_PLANE_SERVICES.map((s) => ({ user: `flotilla-${s}`, variable: natsPasswordVariable(s) })),
    ...COMPOSE_NODES.map((n) => ({ user: nodeAgentUserName(n), variable: nodeAgentPasswordVariable(n) })),
  ];
  const passwords = Object.fromEntries(logins.map((l) => [l.variable, `pw-${l.user}-${process.pid}`]));
  let server: PrivateNatsServer;
  const conns: NatsConnection[] = [];
  const as = async (user: string) => {
    const nc = await connect({ servers: server.url, user, pass: passwords[logins.find((l) => l.user === user)!.variable]!, inboxPrefix: natsInboxPrefix(user) });
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

  it('lets every service and every node agent in with the password from the server environment, and no one with another', async () => {
    for (const { user } of logins) await (await as(user)).flush();
    await expect(connect({ servers: server.url, user: 'flotilla-orchestrator', pass: passwords[natsPasswordVariable('gateway')]! })).rejects.toThrow();
    await expect(connect({ servers: server.url, user: 'flotilla-node-agent', pass: 'anything' })).rejects.toThrow();
  });

  it("holds each node agent to its own node: it heartbeats for itself, not for another node nor to the orchestrator", async () => {
    const node = await as(nodeAgentUserName('node-a'));
    expect(await refused(node, 'orchestrator.>')).toBe(true);
    const metrics = await as('flotilla-metrics');
    const got: string[] = [];
    const beats = metrics.subscribe('registry.heartbeats.*', { callback: (_e, m) => void got.push(`${m.subject}:${m.string()}`) });
    await metrics.flush();
    node.publish('registry.heartbeats.node-b', 'forged');
    node.publish('registry.heartbeats.node-a', 'beat');
    await node.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    beats.unsubscribe();
    expect(got).toEqual(['registry.heartbeats.node-a:beat']);
  });

  it('does not start without the passwords in its environment (no user is left without one)', async () => {
    await expect(startNatsServer(fs.readFileSync(file, 'utf8'))).rejects.toThrow(/did not start/);
  });
});

describe('NATS identity is the connection’s, not a header’s or a payload’s', () => {
  let server: PrivateNatsServer;
  const conns: NatsConnection[] = [];
  const users = {
    orchestrator: serviceUser('orchestrator', 'orch-secret'),
    gateway: serviceUser('gateway', 'gw-secret'),
    registry: serviceUser('registry', 'reg-secret'),
    nodeA: nodeAgentUser('node-a', 'flotilla-node-agent-1', 'node-a-secret'),
    nodeB: nodeAgentUser('node-b', 'flotilla-node-agent-2', 'node-b-secret'),
  };
  /** Connects as one of the users above, with its private inbox prefix (as Messaging does). */
  const as = async (u: NatsUser) => {
    const nc = await connect({ servers: server.url, user: u.user, pass: u.password as string, inboxPrefix: natsInboxPrefix(u.user) });
    conns.push(nc);
    return nc;
  };
  let observer: NatsConnection;
  /** Every subject the observer (a user without limits) saw carrying `marker`. */
  const seen = new Set<string>();

  beforeAll(async () => {
    server = await startNatsServer(
      natsAuthorizationConfig([...Object.values(users), { user: 'observer', password: 'observer-secret', permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } }]),
    );
    observer = await connect({ servers: server.url, user: 'observer', pass: 'observer-secret' });
    conns.push(observer);
    observer.subscribe('>', {
      callback: (_e, m) => {
        if (m.string().startsWith('probe-')) seen.add(m.subject);
      },
    });
    await observer.flush();
    // What the orchestrator creates: the event stream, the task streams and the task records bucket.
    const orchestrator = await as(users.orchestrator);
    const jsm = await jetstreamManager(orchestrator);
    await jsm.streams.add({ name: 'FLOTILLA_EVENTS', subjects: ['flotilla.events.>'] });
    await jsm.streams.add({ name: 'FLOTILLA_TASKS', subjects: ['flotilla.taskq.>'], retention: RetentionPolicy.Workqueue });
    await jsm.streams.add({ name: 'FLOTILLA_TASKS_DLQ', subjects: ['flotilla.taskdlq.>'] });
    const tasks = await new Kvm(orchestrator).create('flotilla_tasks', { history: 1 });
    await tasks.put('t.task-1', JSON.stringify({ id: 'task-1', status: 'queued' }));
    await tasks.put('i.cluster-x.key', 'task-1');
    const leases = await new Kvm(orchestrator).create('flotilla_leases', { history: 1 });
    await leases.put('reconciler', 'orchestrator-1');
    await jetstream(orchestrator).publish('flotilla.events.node.node-a.AgentAssigned', JSON.stringify({ type: 'AgentAssigned', data: { agentId: 'agent-1' } }));
    await jetstream(orchestrator).publish('flotilla.events.node.node-b.AgentAssigned', JSON.stringify({ type: 'AgentAssigned', data: { agentId: 'agent-2' } }));
    await jetstream(orchestrator).publish('flotilla.taskq.cluster-x.high._any', JSON.stringify({ id: 'task-1' }));
  });

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
  });

  it("a node agent's credentials cannot speak for another node (heartbeat, telemetry, registration, drain, agent reports)", async () => {
    const nodeA = await as(users.nodeA);
    const own = ['registry.heartbeats.node-a', 'metrics.telemetry.node-a', 'registry.nodes.register.node-a', 'registry.nodes.drain.node-a', 'orchestrator.agents.report.node-a'];
    const other = own.map((s) => s.replace('node-a', 'node-b'));
    // The routes that take an end user's identity from headers: only the gateway may send them.
    const operator = ['registry.nodes.register', 'registry.nodes.heartbeat', 'registry.nodes.drain', 'registry.nodes.cordon', 'registry.placement.place', 'orchestrator.clusters.list', 'orchestrator.apikeys.create'];
    for (const subject of [...own, ...other, ...operator]) nodeA.publish(subject, `probe-${subject}`);
    await nodeA.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect([...own, ...other, ...operator].filter((s) => seen.has(s))).toEqual(own);
  });

  it('only the gateway may send a route that takes an end user’s identity from headers; no one but the node speaks on its subjects', async () => {
    const gateway = await as(users.gateway);
    const registry = await as(users.registry);
    const subjects = ['orchestrator.clusters.list', 'registry.nodes.drain', 'orchestrator.agents.report.node-a', 'registry.nodes.register.node-a'];
    // The gateway reaches the user routes but not a node's own; another service reaches neither.
    seen.clear();
    for (const subject of subjects) {
      gateway.publish(subject, `probe-${subject}`);
      registry.publish(subject, `probe-${subject}`);
    }
    await Promise.all([gateway.flush(), registry.flush()]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(subjects.filter((s) => seen.has(s))).toEqual(['orchestrator.clusters.list', 'registry.nodes.drain']);
  });

  it("no user may read another's replies: each subscribes to its own inbox prefix only, and request/reply, JetStream and KV work on it", async () => {
    for (const u of Object.values(users)) {
      const nc = await as(u);
      for (const subject of ['_INBOX.>', '_INBOX.abc', `${natsInboxPrefix(u === users.gateway ? users.orchestrator.user : users.gateway.user)}.>`, '>'])
        expect([u.user, subject, await refused(nc, subject)]).toEqual([u.user, subject, true]);
    }
    // A reply travels to the asker's private inbox, answered under allow_responses.
    const registry = await as(users.registry);
    registry.subscribe('registry.nodes.list', { callback: (_e, m) => void m.respond('pong') });
    await registry.flush();
    const gateway = await as(users.gateway);
    expect((await gateway.request('registry.nodes.list', 'ping', { timeout: 2000 })).string()).toBe('pong');
    // JetStream and KV through the private inbox (the orchestrator's own streams and bucket).
    const orchestrator = await as(users.orchestrator);
    const info = await (await jetstreamManager(orchestrator)).streams.info('FLOTILLA_EVENTS');
    expect(info.state.messages).toBeGreaterThanOrEqual(2);
    const kv = await new Kvm(orchestrator).create('flotilla_tasks');
    expect((await kv.get('t.task-1'))?.string()).toContain('task-1');
  });

  it('a node agent follows its own assignments, pulls tasks and writes task records with its narrowed credentials', async () => {
    const nodeA = await as(users.nodeA);
    const jsm = await jetstreamManager(nodeA);
    await jsm.consumers.add('FLOTILLA_EVENTS', { durable_name: 'node-agent-node-a', filter_subject: 'flotilla.events.node.node-a.>', ack_policy: AckPolicy.Explicit });
    const feed = await jetstream(nodeA).consumers.get('FLOTILLA_EVENTS', 'node-agent-node-a');
    const assigned = await feed.next({ expires: 2000 });
    expect(assigned?.json()).toMatchObject({ data: { agentId: 'agent-1' } });
    assigned!.ack();
    await jsm.consumers.add('FLOTILLA_TASKS', { durable_name: 'tq_cluster-x_high__any', filter_subject: 'flotilla.taskq.cluster-x.high._any', ack_policy: AckPolicy.Explicit });
    const task = await (await jetstream(nodeA).consumers.get('FLOTILLA_TASKS', 'tq_cluster-x_high__any')).next({ expires: 2000 });
    expect(task?.json()).toEqual({ id: 'task-1' });
    task!.ack();
    const records = await new Kvm(nodeA).create('flotilla_tasks');
    const record = await records.get('t.task-1');
    await records.update('t.task-1', JSON.stringify({ id: 'task-1', status: 'running' }), record!.revision);
    expect((await records.get('t.task-1'))?.json()).toEqual({ id: 'task-1', status: 'running' });
  });

  it("a node agent's credentials tried against every other subject, bucket and inbox are refused", async () => {
    const nodeA = await as(users.nodeA);
    // Subscriptions: other clients' inboxes, every control-plane subject, other tenants' events, KV traffic.
    const subscriptions = ['>', '_INBOX.>', `${natsInboxPrefix(users.gateway.user)}.>`, `${natsInboxPrefix(users.nodeB.user)}.>`, 'orchestrator.>', 'registry.>', 'registry.heartbeats.*', 'metrics.>', 'metrics.telemetry.*', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'flotilla.tasks.>', 'flotilla.members.*.alive', '$KV.>', '$JS.API.>', '$JS.ACK.>'];
    const open: string[] = [];
    for (const subject of subscriptions) if (!(await refused(await as(users.nodeA), subject))) open.push(subject);
    expect(open).toEqual([]);
    // Publications: every other node's subject, every route, other streams, consumers, buckets and keys.
    seen.clear();
    const publications = [
      'registry.heartbeats.node-b', 'metrics.telemetry.node-b', 'orchestrator.agents.report.node-b', 'registry.nodes.register.node-b', 'registry.nodes.drain.node-b',
      'registry.nodes.register', 'registry.nodes.heartbeat', 'registry.placement.release', 'registry.strategy.set', 'orchestrator.scaling.apply', 'orchestrator.tasks.submit',
      'flotilla.events.cluster.c.ClusterDeleted', 'flotilla.tenants.t.events.cluster.c.ClusterDeleted', 'flotilla.taskq.cluster-x.high._any', 'flotilla.members.m.alive', 'metrics.snapshots.c', 'orchestrator.apikeys.revoked',
      '_INBOX.abc', `${natsInboxPrefix(users.gateway.user)}.abc`,
      '$JS.API.STREAM.NAMES', '$JS.API.STREAM.LIST', '$JS.API.STREAM.CREATE.ROGUE', '$JS.API.STREAM.DELETE.FLOTILLA_EVENTS', '$JS.API.STREAM.PURGE.FLOTILLA_TASKS', '$JS.API.STREAM.UPDATE.FLOTILLA_TASKS',
      '$JS.API.STREAM.MSG.GET.FLOTILLA_EVENTS', '$JS.API.STREAM.MSG.DELETE.FLOTILLA_TASKS', '$JS.API.DIRECT.GET.FLOTILLA_EVENTS', '$JS.API.STREAM.INFO.KV_flotilla_leases',
      '$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.node-agent-node-b.flotilla.events.node.node-b.>', '$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.node-agent-node-a.flotilla.events.>', '$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.spy.flotilla.events.node.node-a.>',
      '$JS.API.CONSUMER.DURABLE.CREATE.FLOTILLA_EVENTS.node-agent-node-a', '$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS', '$JS.API.CONSUMER.MSG.NEXT.FLOTILLA_EVENTS.node-agent-node-b', '$JS.API.CONSUMER.DELETE.FLOTILLA_EVENTS.node-agent-node-b',
      '$JS.API.CONSUMER.CREATE.FLOTILLA_TASKS.spy.flotilla.events.>', '$JS.API.CONSUMER.DELETE.FLOTILLA_TASKS.tq_cluster-x_high__any', '$JS.API.CONSUMER.LIST.FLOTILLA_TASKS',
      '$JS.API.DIRECT.GET.KV_flotilla_tasks', '$JS.API.DIRECT.GET.KV_flotilla_tasks.$KV.flotilla_tasks.i.cluster-x.key', '$JS.API.DIRECT.GET.KV_flotilla_leases.$KV.flotilla_leases.reconciler', '$JS.API.STREAM.MSG.GET.KV_flotilla_tasks',
      '$KV.flotilla_leases.reconciler', '$KV.flotilla_tasks.i.cluster-x.key', '$JS.ACK.FLOTILLA_EVENTS.node-agent-node-b.1.1.1.1.1',
    ];
    for (const subject of publications) nodeA.publish(subject, `probe-${subject}`);
    await nodeA.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(publications.filter((s) => seen.has(s))).toEqual([]);
    // And through the clients: another node's assignments, another bucket.
    await expect((await jetstreamManager(nodeA, { timeout: 1500 })).consumers.add('FLOTILLA_EVENTS', { durable_name: 'node-agent-node-b', filter_subject: 'flotilla.events.node.node-b.>', ack_policy: AckPolicy.Explicit })).rejects.toThrow();
    await expect(new Kvm(jetstream(await as(users.nodeA), { timeout: 1500 })).create('flotilla_leases')).rejects.toThrow();
  });
});

describe('Kubernetes: each node-agent pod is its own NATS user, with a password derived for it (deploy/k8s on a real nats-server)', () => {
  const root = path.resolve(import.meta.dirname, '..', '..', '..');
  const script = path.join(root, 'deploy', 'nats-node-password.mjs');
  const k8s = path.join(root, 'deploy', 'k8s', 'base');
  // What the pods see: the Secret's master key, the ConfigMaps' auth.conf template and nats.conf.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-k8s-nats-'));
  const masterKey = path.join(dir, 'master');
  const configMap = (file: string, name: string) =>
    parseAllDocuments(fs.readFileSync(path.join(k8s, file), 'utf8'))
      .map((d) => d.toJS() as { kind: string; metadata: { name: string }; data: Record<string, string> })
      .find((o) => o.kind === 'ConfigMap' && o.metadata.name === name)!.data;
  const servicePasswords = Object.fromEntries(CONTROL_PLANE_SERVICES.map((s) => [natsPasswordVariable(s), `pw-${s}-${process.pid}`]));
  /** Runs the init containers' script as they do; its files are what the pods read. */
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nats-node-password.mjs ${args[0]} failed: ${r.stderr}`);
    return r.stdout;
  };
  /** A node agent's init container for pod `pod`: the password file its node agent reads. */
  const podPassword = (pod: string, key = masterKey) => {
    const out = path.join(dir, `password-${pod}-${path.basename(key)}`);
    run('password', key, pod, out);
    expect(fs.statSync(out).mode & 0o777).toBe(0o400);
    return fs.readFileSync(out, 'utf8');
  };
  let server: PrivateNatsServer;
  const conns: NatsConnection[] = [];
  const as = async (user: string, pass: string) => {
    const nc = await connect({ servers: server.url, user, pass, inboxPrefix: natsInboxPrefix(user) });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    fs.writeFileSync(masterKey, `k8s-master-key-${process.pid}-0123456789abcdef\n`);
    // The NATS pods' init container: the ConfigMap nats-auth's auth.conf with the slots' passwords.
    fs.mkdirSync(path.join(dir, 'nats-auth'));
    fs.writeFileSync(path.join(dir, 'auth.conf.template'), configMap('nats-auth.yaml', 'nats-auth')['auth.conf']!);
    run('auth-conf', masterKey, path.join(dir, 'auth.conf.template'), path.join(dir, 'nats-auth', 'auth.conf'));
    // nats.conf includes it relative to its own directory, as the pods' does (../nats-auth/auth.conf).
    const include = configMap('nats.yaml', 'nats-config')['nats.conf']!.match(/^\s*include (\S+)$/m)![1]!;
    expect(include).toBe('../nats-auth/auth.conf');
    server = await startNatsServer(`include ../${path.basename(dir)}/nats-auth/auth.conf\n`, { env: servicePasswords });
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("fills in every slot's password and nothing else: the rendered auth.conf holds no master key and still reads the services' passwords from the environment", () => {
    const rendered = fs.readFileSync(path.join(dir, 'nats-auth', 'auth.conf'), 'utf8');
    expect(rendered).not.toContain('FLOTILLA_NATS_PASSWORD_NODE_AGENT');
    expect(rendered).not.toContain(fs.readFileSync(masterKey, 'utf8').trim());
    expect(rendered.match(/user: "flotilla-node-agent-node-agent-\d+", password: "[0-9a-f]{64}"/g)).toHaveLength(K8S_NODE_AGENT_SLOTS);
    for (const s of CONTROL_PLANE_SERVICES) expect(rendered).toContain(`password: $${natsPasswordVariable(s)},`);
  });

  it('lets node-agent-1 in as flotilla-node-agent-node-agent-1 with the password its own init container derived, and every service with its own', async () => {
    await (await as('flotilla-node-agent-node-agent-1', podPassword('node-agent-1'))).flush();
    await (await as(`flotilla-node-agent-node-agent-${K8S_NODE_AGENT_SLOTS - 1}`, podPassword(`node-agent-${K8S_NODE_AGENT_SLOTS - 1}`))).flush();
    for (const s of CONTROL_PLANE_SERVICES) await (await as(`flotilla-${s}`, servicePasswords[natsPasswordVariable(s)]!)).flush();
  });

  it('lets node-agent-1 heartbeat for node-agent-1 and refuses its heartbeat for node-agent-0 (a permissions violation)', async () => {
    const metrics = await as('flotilla-metrics', servicePasswords[natsPasswordVariable('metrics')]!);
    const got: string[] = [];
    const beats = metrics.subscribe('registry.heartbeats.*', { callback: (_e, m) => void got.push(`${m.subject}:${m.string()}`) });
    await metrics.flush();
    const node = await as('flotilla-node-agent-node-agent-1', podPassword('node-agent-1'));
    const violations: string[] = [];
    void (async () => {
      for await (const st of node.status()) if (st.type === 'error' && st.error.name === 'PermissionViolationError') violations.push((st.error as Error & { subject: string }).subject);
    })();
    node.publish('registry.heartbeats.node-agent-0', 'forged');
    node.publish('registry.heartbeats.node-agent-1', 'own');
    await node.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    beats.unsubscribe();
    expect(got).toEqual(['registry.heartbeats.node-agent-1:own']);
    expect(violations).toEqual(['registry.heartbeats.node-agent-0']);
    expect(await refused(node, 'orchestrator.>')).toBe(true);
  });

  it("refuses node-agent-0's password for node-agent-1, a password derived from another master key, and the old shared user", async () => {
    await expect(connect({ servers: server.url, user: 'flotilla-node-agent-node-agent-1', pass: podPassword('node-agent-0') })).rejects.toThrow();
    const otherKey = path.join(dir, 'other-master');
    fs.writeFileSync(otherKey, 'another-master-key-0123456789abcdef');
    await expect(connect({ servers: server.url, user: 'flotilla-node-agent-node-agent-1', pass: podPassword('node-agent-1', otherKey) })).rejects.toThrow();
    // The shared user of the Deployment days is gone, whatever its password.
    for (const pass of ['development-nats-node-agent', podPassword('node-agent-1')])
      await expect(connect({ servers: server.url, user: 'flotilla-node-agent', pass })).rejects.toThrow();
    // A pod beyond the slots has no user.
    await expect(connect({ servers: server.url, user: `flotilla-node-agent-node-agent-${K8S_NODE_AGENT_SLOTS}`, pass: podPassword(`node-agent-${K8S_NODE_AGENT_SLOTS}`) })).rejects.toThrow();
  });

  it('refuses a placeholder or short master key (the init container fails, the pod does not start)', () => {
    for (const [name, key] of [['placeholder', 'CHANGE_ME'], ['short', 'too-short-a-key']] as const) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, key);
      const r = spawnSync(process.execPath, [script, 'password', file, 'node-agent-0', path.join(dir, `out-${name}`)], { encoding: 'utf8' });
      expect([name, r.status, fs.existsSync(path.join(dir, `out-${name}`))]).toEqual([name, 1, false]);
    }
  });
});
