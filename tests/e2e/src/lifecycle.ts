import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from '@jest/globals';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
// The system tests load the gateway's own proto definition (its public contract).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { loadFlotillaProto } from '@flotilla/gateway/routes';
import { eventually, repoRoot, type Stack } from '@flotilla/testing';

/** The whole cluster lifecycle (create, spawn, scale, hibernate, reactivate, decommission), shared by the single-replica and the HA tests. */

export const MARKETING_YAML = fs.readFileSync(path.join(repoRoot, 'examples', 'blueprints', 'marketing.yaml'), 'utf8');
/** marketing.yaml: a supervisor, two leads and five specialists besides the workers. */
export const FIXED_AGENTS = 8;

export interface EventMessage {
  id: string;
  type: string;
  stream: string;
  revision: number;
  position: string;
}

/** A plain NATS subscriber on every cluster event, as an integrator would run it. */
export class EventWatcher {
  readonly received: EventMessage[] = [];
  private constructor(
    private readonly nc: NatsConnection,
    private readonly sub: Subscription,
  ) {}

  static async start(stack: Stack, servers: string | string[] = stack.ns.natsUrl): Promise<EventWatcher> {
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const sub = nc.subscribe(`${stack.ns.prefix}.flotilla.events.cluster.>`);
    const w = new EventWatcher(nc, sub);
    void (async () => {
      for await (const m of sub) w.received.push(m.json<EventMessage>());
    })();
    await nc.flush();
    return w;
  }

  of(clusterId: string): EventMessage[] {
    return this.received.filter((e) => e.stream === `cluster-${clusterId}`);
  }

  async stop(): Promise<void> {
    this.sub.unsubscribe();
    await this.nc.close();
  }
}

type Call = Stack['call'];

const clusterView = async (call: Call, id: string) => (await call('GET', `/api/clusters/${id}`)).body as Record<string, unknown>;

/** Waits until the cluster is active with `workers` workers running (and every fixed agent). */
export async function settled(call: Call, id: string, workers: number, timeoutMs = 90_000) {
  return eventually(
    async () => {
      const c = await clusterView(call, id);
      return c['status'] === 'active' && c['current_workers'] === workers && c['running_agents'] === FIXED_AGENTS + workers && c;
    }, { timeoutMs, intervalMs: 100, what: `${id} active with ${workers} workers` });
}

/** Every event of the cluster's stream reached the subscriber exactly once, in order, and matches the log. */
export async function expectEventsExactlyOnceInOrder(call: Call, watcher: EventWatcher, id: string): Promise<void> {
  const logged = await eventually(
    async () => {
      const res = await call('GET', `/api/clusters/${id}/events?limit=1000`);
      const own = (res.body.events as { type: string; event_id: string; stream: string; position: string }[]).filter((e) => e.stream === `cluster-${id}`);
      return watcher.of(id).length >= own.length && own;
    }, { timeoutMs: 30_000, intervalMs: 100, what: `the subscriber has every event of ${id}` });
  const got = watcher.of(id);
  expect(got.map((e) => e.revision)).toEqual(got.map((_, i) => i));
  expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
  const byPosition = [...logged].sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
  expect(got.map((e) => e.type)).toEqual(byPosition.map((e) => e.type));
}

/**
 * register marketing.yaml (once), create, reach active on live node agents, scale 6 → 10 → 4,
 * hibernate, reactivate, update, hierarchy, events by severity, manifest, delete — over REST.
 */
export async function restLifecycle(call: Call, id: string, nodeIds: readonly string[]): Promise<void> {
  const registered = await call('POST', '/api/blueprints?wait=true', MARKETING_YAML);
  // 202: registered, but the read models had not caught up within the wait (a loaded machine);
  // creating a cluster reads the blueprint from its stream, so it does not need them.
  expect([200, 201, 202, 409]).toContain(registered.status);
  const created = await call('POST', '/api/clusters?wait=true', { blueprint_id: 'marketing-v1', name: `Marketing ${id}`, cluster_id: id });
  // 202 likewise: created and stored, the read models behind the wait (a loaded machine, a stack
  // just started with two replicas of everything); the reads below wait for them.
  expect([201, 202]).toContain(created.status);
  expect(created.body).toMatchObject({ id, blueprint_id: 'marketing-v1', target_workers: 6 });
  // Only this test may move the target: the autoscaler scales on the nodes' real CPU, which a loaded machine raises.
  expect((await call('PUT', `/api/clusters/${id}`, { policy: { enabled: false } })).status).toBe(200);

  await settled(call, id, 6);
  const agents = (await call('GET', `/api/clusters/${id}/agents`)).body.agents as { role: string; node_id: string | null; state: string; name: string }[];
  expect(agents).toHaveLength(FIXED_AGENTS + 6);
  for (const a of agents) {
    expect(nodeIds).toContain(a.node_id);
    expect(a.state).toBe('idle');
  }
  expect(agents.filter((a) => a.role === 'supervisor').map((a) => a.name)).toEqual(['campaign-director']);

  for (const target of [10, 4]) {
    const scaled = await call('POST', `/api/clusters/${id}/scale`, { target_workers: target });
    expect(scaled.status).toBe(200);
    expect(scaled.body.target_workers).toBe(target);
    await settled(call, id, target);
  }

  const hibernated = await call('POST', `/api/clusters/${id}/hibernate`, {});
  expect(hibernated.status).toBe(200);
  await eventually(async () => {
    const c = await clusterView(call, id);
    return c['status'] === 'hibernated' && c['current_workers'] === 0 && c['running_agents'] === FIXED_AGENTS && c;
  }, { timeoutMs: 60_000, intervalMs: 100, what: `${id} hibernated with 0 workers` });
  // Scaling a hibernated cluster breaks a rule: 422 naming it, nothing changes.
  const refused = await call('POST', `/api/clusters/${id}/scale`, { target_workers: 5 });
  expect(refused.status).toBe(422);
  expect(refused.body.error).toMatchObject({ code: 'rule_violated', details: { rule: 'cluster_hibernated' } });

  expect((await call('POST', `/api/clusters/${id}/reactivate`, {})).status).toBe(200);
  await settled(call, id, 4);

  const updated = await call('PUT', `/api/clusters/${id}?wait=true`, { name: `Marketing ${id} (renamed)`, description: 'spring campaign' });
  expect(updated.status).toBe(200);
  expect(await clusterView(call, id)).toMatchObject({ name: `Marketing ${id} (renamed)`, description: 'spring campaign' });

  const tree = (await call('GET', `/api/clusters/${id}/hierarchy`)).body as { root: TreeNode };
  expect(tree.root).toMatchObject({ name: 'campaign-director', role: 'supervisor' });
  expect(tree.root.children.map((c) => c.name).sort()).toEqual(['content-lead', 'growth-lead']);
  const content = tree.root.children.find((c) => c.name === 'content-lead')!;
  expect(content.children.filter((c) => c.role === 'specialist').map((c) => c.name).sort()).toEqual(['copywriter', 'copywriter', 'seo-specialist']);
  expect(countWorkers(tree.root)).toBe(4);

  const all = (await call('GET', `/api/clusters/${id}/events?limit=1000`)).body.events as { severity: string; type: string }[];
  const info = (await call('GET', `/api/clusters/${id}/events?severity=info&limit=1000`)).body.events as { severity: string; type: string }[];
  expect(all.some((e) => e.severity === 'debug')).toBe(true);
  expect(info.length).toBeGreaterThan(0);
  expect(info.every((e) => e.severity !== 'debug')).toBe(true);
  expect(info.length).toBe(all.filter((e) => e.severity !== 'debug').length);
  for (const t of ['ClusterCreated', 'ClusterActivated', 'ClusterScalingStarted', 'ClusterScaled', 'ClusterHibernated', 'ClusterReactivated', 'ClusterUpdated']) {
    expect(all.map((e) => e.type)).toContain(t);
  }

  const manifest = await call('GET', `/api/clusters/${id}/manifest`);
  expect(manifest.status).toBe(200);
  expect(manifest.headers.get('content-type')).toMatch(/markdown/);
  for (const text of [`Marketing ${id} (renamed)`, 'campaign-director', 'copywriting', 'research-worker']) expect(manifest.body).toContain(text);

  const deleted = await call('DELETE', `/api/clusters/${id}`);
  expect([200, 202]).toContain(deleted.status);
  await eventually(async () => (await clusterView(call, id))['status'] === 'decommissioned', { timeoutMs: 60_000, intervalMs: 100, what: `${id} decommissioned` });
  const left = (await call('GET', `/api/clusters/${id}/agents`)).body.agents as unknown[];
  expect(left).toHaveLength(0);
}

interface TreeNode {
  name: string;
  role: string;
  children: TreeNode[];
}

function countWorkers(n: TreeNode): number {
  return (n.role === 'worker' ? 1 : 0) + (n.children ?? []).reduce((s, c) => s + countWorkers(c), 0);
}

type Rpc = (name: string, req: unknown) => Promise<{ code: number; reply: Record<string, unknown> | undefined; message?: string }>;

export function grpcClient(port: number, apiKey: string): { call: Rpc; close(): void } {
  const pkg = loadFlotillaProto() as unknown as { flotilla: { v1: Record<string, grpc.ServiceClientConstructor> } };
  const address = `127.0.0.1:${port}`;
  const clients = ['BlueprintService', 'ClusterService', 'NodeService', 'TaskService'].map((s) => new pkg.flotilla.v1[s]!(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, unknown>);
  const md = new grpc.Metadata();
  md.set('x-api-key', apiKey);
  const call: Rpc = (name, req) =>
    new Promise((resolve) => {
      const client = clients.find((c) => typeof c[name] === 'function')!;
      (client[name] as (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Record<string, unknown>) => void) => void).call(client, req, md, { deadline: Date.now() + 30_000 }, (err, reply) =>
        resolve({ code: err ? err.code : 0, reply, ...(err ? { message: err.details } : {}) }),
      );
    });
  return { call, close: () => clients.forEach((c) => c.close()) };
}

/** The same lifecycle through gRPC (progress is read back over gRPC too). */
export async function grpcLifecycle(rpc: Rpc, id: string): Promise<void> {
  const registered = await rpc('RegisterBlueprint', { document: MARKETING_YAML, format: 'yaml', wait: true });
  expect([grpc.status.OK, grpc.status.ALREADY_EXISTS]).toContain(registered.code);
  const created = await rpc('CreateCluster', { cluster_id: id, blueprint_id: 'marketing-v1', name: `Marketing ${id}`, wait: true });
  expect(created.code).toBe(grpc.status.OK);
  const get = async () => (await rpc('GetCluster', { id })).reply as { status: string; current_workers: number; running_agents: number; name: string; target_workers: number };
  const active = (workers: number) =>
    eventually(async () => {
      const c = await get();
      return c.status === 'active' && c.current_workers === workers && c.running_agents === FIXED_AGENTS + workers && c;
    }, { timeoutMs: 90_000, intervalMs: 100, what: `${id} active with ${workers} workers (gRPC)` });
  await active(6);
  for (const target of [10, 4]) {
    const scaled = await rpc('ScaleCluster', { id, target_workers: target });
    expect(scaled.code).toBe(grpc.status.OK);
    await active(target);
  }
  expect((await rpc('ScaleCluster', { id, target_workers: 21 })).code).toBe(grpc.status.FAILED_PRECONDITION);
  expect((await rpc('HibernateCluster', { id })).code).toBe(grpc.status.OK);
  await eventually(async () => (await get()).status === 'hibernated', { timeoutMs: 60_000, intervalMs: 100, what: `${id} hibernated (gRPC)` });
  expect((await rpc('ReactivateCluster', { id })).code).toBe(grpc.status.OK);
  await active(4);
  expect((await rpc('UpdateCluster', { id, name: `Marketing ${id} (gRPC)`, wait: true })).code).toBe(grpc.status.OK);
  expect((await get()).name).toBe(`Marketing ${id} (gRPC)`);
  const tree = (await rpc('GetHierarchy', { id })).reply as { root: TreeNode };
  expect(tree.root.name).toBe('campaign-director');
  expect(countWorkers(tree.root)).toBe(4);
  const events = (await rpc('ListEvents', { id, severity: 'info', limit: 1000 })).reply as { events: { severity: string; type: string }[] };
  expect(events.events.length).toBeGreaterThan(0);
  expect(events.events.every((e) => e.severity !== 'debug')).toBe(true);
  expect(events.events.map((e) => e.type)).toContain('ClusterReactivated');
  // Event data travels as google.protobuf.Struct, with its values.
  const createdEvent = (events.events as unknown as { type: string; data: { fields: Record<string, { stringValue?: string }> } }[]).find((e) => e.type === 'ClusterCreated');
  expect(createdEvent?.data.fields['clusterId']?.stringValue).toBe(id);
  const manifest = (await rpc('GetManifest', { id })).reply as { markdown: string };
  expect(manifest.markdown).toContain('campaign-director');
  // Health and metrics from the metrics service, as google.protobuf.Struct.
  type Struct = { fields: Record<string, { numberValue?: number; stringValue?: string; listValue?: { values?: unknown[] } }> };
  const health = await rpc('GetClusterHealth', { id });
  expect(health.code).toBe(grpc.status.OK);
  const h = (health.reply as Struct).fields;
  expect([h['cluster_id']?.stringValue, ['healthy', 'warning', 'critical'].includes(h['status']?.stringValue ?? '')]).toEqual([id, true]);
  expect(h['score']?.numberValue).toBeGreaterThanOrEqual(0);
  const series = await rpc('GetClusterMetrics', { id, limit: 50 });
  expect(series.code).toBe(grpc.status.OK);
  expect((series.reply as Struct).fields['cluster_id']?.stringValue).toBe(id);
  expect((series.reply as Struct).fields['points']?.listValue).toBeDefined();
  expect((await rpc('DecommissionCluster', { id })).code).toBe(grpc.status.OK);
  await eventually(async () => (await get()).status === 'decommissioned', { timeoutMs: 60_000, intervalMs: 100, what: `${id} decommissioned (gRPC)` });
  expect((await rpc('GetCluster', { id: 'no-such-cluster' })).code).toBe(grpc.status.NOT_FOUND);
}
