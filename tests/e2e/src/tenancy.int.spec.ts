import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { createEventStore } from '@flotilla/eventstore';
import { api, createTestDatabase, createTestNamespace, eventually, freePort, startService, startStack, TEST_ADMIN_KEY, type ServiceProcess, type Stack, type TestDatabase, type TestNamespace } from '@flotilla/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { loadFlotillaProto } from '@flotilla/gateway/routes';

const BLUEPRINT = (id: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: Tenant ${id}, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 3 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

/** Reads an SSE stream for `ms` and returns the event types it delivered. */
async function sse(url: string, key: string, ms: number): Promise<string[]> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { 'x-api-key': key }, signal: controller.signal });
  const types: string[] = [];
  const reader = res.body!.getReader();
  const timer = setTimeout(() => controller.abort(), ms);
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      for (const m of buf.matchAll(/^event: (\w+)$/gm)) types.push(m[1]!);
      buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
    }
  } catch {
    /* aborted */
  } finally {
    clearTimeout(timer);
  }
  return types;
}

interface StreamedEvent {
  type: string;
  stream: string;
  data: Record<string, unknown>;
  metadata: { tenantId?: string; actor?: string };
}

/** Reads an SSE stream for `ms` and returns the events it delivered, parsed. */
async function sseEvents(url: string, key: string, ms: number): Promise<StreamedEvent[]> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { 'x-api-key': key }, signal: controller.signal });
  const events: StreamedEvent[] = [];
  const reader = res.body!.getReader();
  const timer = setTimeout(() => controller.abort(), ms);
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      const end = buf.lastIndexOf('\n\n');
      if (end < 0) continue;
      for (const m of buf.slice(0, end).matchAll(/^data: (.+)$/gm)) events.push(JSON.parse(m[1]!) as StreamedEvent);
      buf = buf.slice(end + 2);
    }
  } catch {
    /* aborted */
  } finally {
    clearTimeout(timer);
  }
  return events;
}

describe('tenants, audit and hardening', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  const procs: ServiceProcess[] = [];
  let url: string;
  let grpcPort: number;
  let a: ReturnType<typeof api>;
  let b: ReturnType<typeof api>;
  let keyA = '';
  let keyB = '';

  beforeAll(async () => {
    db = await createTestDatabase('tenancy');
    ns = createTestNamespace();
    const port = await freePort();
    grpcPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env = {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      DATABASE_URL: db.url,
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_GRPC_PORT: String(grpcPort),
      ORCHESTRATOR_HTTP_PORT: '0',
      REQUEST_TIMEOUT_MS: '2000',
      RATE_LIMIT_RPS: '200',
      RATE_LIMIT_BURST: '200',
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    };
    for (const app of ['orchestrator', 'gateway'] as const) procs.push(startService(app, env));
    await Promise.all(procs.map((p) => p.waitFor()));
    const root = api(url);
    keyA = (await root('POST', '/api/admin/keys', { tenant_id: 'tenant-a', role: 'operator', name: 'alice' })).body.secret;
    keyB = (await root('POST', '/api/admin/keys', { tenant_id: 'tenant-b', role: 'operator', name: 'bob' })).body.secret;
    a = api(url, keyA);
    b = api(url, keyB);
    expect((await a('POST', '/api/blueprints?wait=true', BLUEPRINT('tenancy-a'))).status).toBe(201);
    expect((await b('POST', '/api/blueprints?wait=true', BLUEPRINT('tenancy-b'))).status).toBe(201);
    expect((await a('POST', '/api/clusters?wait=true', { blueprint_id: 'tenancy-a', name: 'A', cluster_id: 'tenancy-ca' })).status).toBe(201);
    expect((await b('POST', '/api/clusters?wait=true', { blueprint_id: 'tenancy-b', name: 'B', cluster_id: 'tenancy-cb' })).status).toBe(201);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await db.drop();
    await ns.cleanup();
  });

  it("keeps each tenant out of the other's clusters over REST", async () => {
    const listA = await a('GET', '/api/clusters');
    expect(listA.body.clusters.map((c: { id: string }) => c.id)).toEqual(['tenancy-ca']);
    expect((await b('GET', '/api/clusters')).body.clusters.map((c: { id: string }) => c.id)).toEqual(['tenancy-cb']);
    expect((await b('GET', '/api/clusters/tenancy-ca')).status).toBe(404);
    expect((await b('GET', '/api/clusters/tenancy-ca/events')).status).toBe(404);
    expect((await b('POST', '/api/clusters/tenancy-ca/scale', { target_workers: 1 })).status).toBe(404);
    expect((await b('DELETE', '/api/clusters/tenancy-ca')).status).toBe(404);
    expect((await b('POST', '/api/clusters', { blueprint_id: 'tenancy-a', name: 'steal' })).status).toBe(404);
    expect((await b('GET', '/api/blueprints/tenancy-a')).status).toBe(404);
    expect((await a('GET', '/api/clusters/tenancy-ca')).status).toBe(200);
  });

  it("keeps each tenant out of the other's clusters in the past too: ?at=, diffs and simulations", async () => {
    const position = ((await a('GET', '/api/clusters/tenancy-ca')).body as { as_of: { position: string } }).as_of.position;
    expect((await a('GET', `/api/clusters/tenancy-ca?at=${position}`)).status).toBe(200);
    for (const path of [
      `/api/clusters/tenancy-ca?at=${position}`,
      `/api/clusters/tenancy-ca/agents?at=${position}`,
      `/api/clusters/tenancy-ca/hierarchy?at=${position}`,
      `/api/clusters/tenancy-ca/diff?from=1&to=${position}`,
    ]) {
      const res = await b('GET', path);
      expect([path, res.status]).toEqual([path, 404]);
    }
    expect((await b('POST', '/api/clusters/tenancy-ca/simulate', { policy: {} })).status).toBe(404);
  });

  it("keeps each tenant out of the other's clusters over gRPC", async () => {
    const pkg = loadFlotillaProto() as unknown as { flotilla: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const client = new pkg.flotilla.v1['ClusterService']!(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as Record<string, (r: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void> & grpc.Client;
    const md = new grpc.Metadata();
    md.set('x-api-key', keyB);
    const call = (name: string, req: unknown) => new Promise<{ code: number; reply?: unknown }>((resolve) => client[name]!.call(client, req, md, (err, reply) => resolve({ code: err ? err.code : 0, reply })));
    expect((await call('GetCluster', { id: 'tenancy-ca' })).code).toBe(grpc.status.NOT_FOUND);
    expect((await call('ScaleCluster', { id: 'tenancy-ca', target_workers: 1 })).code).toBe(grpc.status.NOT_FOUND);
    expect((await call('DecommissionCluster', { id: 'tenancy-ca' })).code).toBe(grpc.status.NOT_FOUND);
    const list = await call('ListClusters', {});
    expect((list.reply as { clusters: { id: string }[] }).clusters.map((c) => c.id)).toEqual(['tenancy-cb']);
    client.close();
  });

  it("never streams one tenant's events to the other (SSE)", async () => {
    const watchB = sse(`${url}/api/events/stream?cluster=tenancy-ca`, keyB, 2500);
    const watchA = sse(`${url}/api/events/stream?cluster=tenancy-ca`, keyA, 2500);
    await new Promise((r) => setTimeout(r, 500));
    await a('PUT', '/api/clusters/tenancy-ca', { description: 'changed by alice' });
    expect(await watchA).toContain('ClusterUpdated');
    expect(await watchB).toEqual([]);
  });

  it("publishes each event live under its tenant on NATS (what a tenant's integrator credentials allow)", async () => {
    const nc = await connect({ servers: ns.natsUrl });
    try {
      const got: { subject: string; aggregate_id: string }[] = [];
      const sub = nc.subscribe(`${ns.prefix}.flotilla.tenants.*.events.>`);
      void (async () => {
        for await (const m of sub) got.push({ subject: m.subject, aggregate_id: (m.json() as { aggregate_id: string }).aggregate_id });
      })();
      await nc.flush();
      await a('PUT', '/api/clusters/tenancy-ca?wait=true', { description: 'live for tenant a' });
      await eventually(() => got.some((g) => g.subject === `${ns.prefix}.flotilla.tenants.tenant-a.events.cluster.tenancy-ca.ClusterUpdated`), { timeoutMs: 10_000, intervalMs: 50, what: () => `tenancy-ca's ClusterUpdated on tenant-a's subjects (got: ${got.map((g) => g.subject).join(', ') || 'nothing'})` });
      expect(got.map((g) => g.subject)).toContain(`${ns.prefix}.flotilla.tenants.tenant-a.events.cluster.tenancy-ca.ClusterUpdated`);
      expect(got.filter((g) => g.aggregate_id === 'tenancy-ca').every((g) => g.subject.startsWith(`${ns.prefix}.flotilla.tenants.tenant-a.`))).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it('records the acting identity on every event, and the audit endpoint returns them in order', async () => {
    await a('PUT', '/api/clusters/tenancy-ca?wait=true', { name: 'A renamed' });
    const audit = await api(url)('GET', '/api/audit?cluster=tenancy-ca');
    expect(audit.status).toBe(200);
    const events = audit.body.events as { type: string; actor: string; position: string; tenant_id: string; metadata: { sourceAddress?: string } }[];
    expect(events.length).toBeGreaterThan(2);
    const positions = events.map((e) => BigInt(e.position));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
    for (const e of events) {
      expect(e.tenant_id).toBe('tenant-a');
      expect(e.actor).toMatch(/^(key:key_|reconciler$)/);
    }
    const byAlice = events.filter((e) => e.type === 'ClusterUpdated');
    expect(byAlice.length).toBeGreaterThanOrEqual(2);
    expect(byAlice[0]!.actor).toMatch(/^key:key_/);
    expect(byAlice[0]!.metadata.sourceAddress).toBe('127.0.0.1');
    expect((await a('GET', '/api/audit')).status).toBe(403);
  });

  it("a backup cluster must be the tenant's own: no task is forwarded into another tenant's cluster", async () => {
    const withBackup = (id: string, backup: string) =>
      BLUEPRINT(id).replace('maxWorkers: 3 }', `maxWorkers: 3, backupCluster: ${backup} }`);
    // Naming another tenant's cluster as the backup is refused exactly like naming no cluster at all.
    for (const [id, backup] of [
      ['tenancy-b-foreign', 'tenancy-ca'],
      ['tenancy-b-missing', 'tenancy-nowhere'],
    ]) {
      expect((await b('POST', '/api/blueprints?wait=true', withBackup(id!, backup!))).status).toBe(201);
      const refused = await b('POST', '/api/clusters', { blueprint_id: id, name: id, cluster_id: id });
      expect([id, refused.status, refused.body.error.code]).toEqual([id, 404, 'not_found']);
      expect(refused.body.error.details).toEqual({ kind: 'cluster', id: backup, path: 'cluster.backupCluster' });
      expect((await b('GET', `/api/clusters/${id}`)).status).toBe(404);
    }
    expect((await b('POST', '/api/blueprints?wait=true', withBackup('tenancy-b-own', 'tenancy-cb'))).status).toBe(201);
    expect((await b('POST', '/api/clusters', { blueprint_id: 'tenancy-b-own', name: 'own backup', cluster_id: 'tenancy-b-own' })).status).toBe(201);

    // A cluster recorded with another tenant's backup (before this check existed) whose circuit
    // breaker is open: its tasks are refused as if it had no backup, never queued on the other
    // tenant's cluster. Written straight to the log, as an older version would have.
    const store = await createEventStore({ kind: 'postgres', url: db.url });
    try {
      const [created] = await store.readStream('cluster-tenancy-ca', { limit: 1 });
      expect(created!.type).toBe('ClusterCreated');
      for (const [id, backup] of [
        ['tenancy-legacy-foreign', 'tenancy-cb'],
        ['tenancy-legacy-missing', 'tenancy-nowhere'],
      ] as const) {
        const blueprint = created!.data['blueprint'] as { cluster: Record<string, unknown> };
        await store.append(
          `cluster-${id}`,
          [
            {
              type: 'ClusterCreated',
              data: { ...created!.data, clusterId: id, backupCluster: backup, blueprint: { ...blueprint, cluster: { ...blueprint.cluster, backupCluster: backup } } },
              metadata: { ...created!.metadata, tenantId: 'tenant-a' },
            },
            {
              type: 'CircuitBreakerOpened',
              data: { reason: '5 consecutive failures', backupCluster: backup, at: new Date().toISOString() },
              metadata: { ...created!.metadata, tenantId: 'tenant-a' },
            },
          ],
          { expectedRevision: 'no_stream' },
        );
      }
    } finally {
      await store.close();
    }
    const foreign = await a('POST', '/api/clusters/tenancy-legacy-foreign/tasks', { payload: 'for tenant a only' });
    const missing = await a('POST', '/api/clusters/tenancy-legacy-missing/tasks', { payload: 'for tenant a only' });
    expect([foreign.status, foreign.body.error?.code, foreign.body.error?.details?.reason]).toEqual([503, 'unavailable', 'circuit_open']);
    expect([missing.status, missing.body.error?.code, missing.body.error?.details?.reason]).toEqual([503, 'unavailable', 'circuit_open']);
    expect(Object.keys(foreign.body.error.details).sort()).toEqual(Object.keys(missing.body.error.details).sort());
  });

  it('answers a 10 MB body with 413, a 1,000-deep JSON with 400 and a flood from one key with 429, and stays up', async () => {
    // The gateway answers 413 from the Content-Length alone, before reading the body, and closes:
    // announce 10 MB, send the first 64 KB, and read the answer (writing all of it would race
    // the close with EPIPE).
    const hugeStatus = await new Promise<number>((resolve, reject) => {
      const size = 10 * 1024 * 1024;
      const req = http.request(`${url}/api/clusters`, { method: 'POST', headers: { 'x-api-key': keyA, 'content-type': 'application/json', 'content-length': size } }, (res) => {
        resolve(res.statusCode!);
        res.resume();
        req.destroy();
      });
      req.on('error', (err) => setTimeout(() => reject(err), 2000));
      req.write(`{"name":"${'x'.repeat(64 * 1024)}`);
      setTimeout(() => reject(new Error('no answer to a 10 MB body within 10 s')), 10_000).unref();
    });
    expect(hugeStatus).toBe(413);
    const deep = await a('POST', '/api/clusters', `${'['.repeat(1000)}${']'.repeat(1000)}`, { 'content-type': 'application/json' });
    expect(deep.status).toBe(400);
    expect(deep.body.error.code).toBe('validation_failed');
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 1000 }, () => b('GET', '/api/clusters/tenancy-cb').then((r) => r)));
    const limited = statuses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await fetch(`${url}/live`)).status).toBe(200);
    expect((await a('GET', '/api/clusters/tenancy-ca')).status).toBe(200);
    const res = await fetch(`${url}/api/clusters`, { headers: { 'x-api-key': keyA } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    // The event stream too, though it writes its own headers.
    const stream = new AbortController();
    const sseRes = await fetch(`${url}/api/events/stream`, { headers: { 'x-api-key': keyA }, signal: stream.signal });
    expect([sseRes.headers.get('content-type'), sseRes.headers.get('x-content-type-options'), sseRes.headers.get('x-frame-options')]).toEqual(['text/event-stream; charset=utf-8', 'nosniff', 'DENY']);
    stream.abort();
  });
});

describe('tenants share nodes, not agents', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ label: 'tenancy_nodes', apps: ['orchestrator', 'registry', 'gateway'], nodes: [{ id: 'node-shared' }] });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("lets a tenant see the shared node but only its own agents on it, and only its own assignments", async () => {
    const root = stack.call;
    const url = stack.url;
    const clients: Record<string, ReturnType<typeof api>> = {};
    for (const t of ['tenant-a', 'tenant-b']) {
      const key = (await root('POST', '/api/admin/keys', { tenant_id: t, role: 'viewer', name: t })).body.secret as string;
      const operator = (await root('POST', '/api/admin/keys', { tenant_id: t, role: 'operator', name: `${t}-op` })).body.secret as string;
      clients[t] = api(url, key);
      const op = api(url, operator);
      expect((await op('POST', '/api/blueprints?wait=true', BLUEPRINT(`nodes-${t}`))).status).toBe(201);
      expect((await op('POST', '/api/clusters?wait=true', { blueprint_id: `nodes-${t}`, name: t, cluster_id: `nodes-${t}` })).status).toBe(201);
    }
    const everything = async () => (await root('GET', '/api/cluster/assignments')).body.assignments as { agent_id: string; cluster_id: string }[];
    await eventually(everything, { until: (all) => new Set(all.map((x) => x.cluster_id)).size >= 2, timeoutMs: 30_000, intervalMs: 200, what: 'assignments of both clusters' });
    const all = await everything();
    expect(new Set(all.map((x) => x.cluster_id))).toEqual(new Set(['nodes-tenant-a', 'nodes-tenant-b']));

    for (const [tenant, client] of Object.entries(clients)) {
      const mine = all.filter((x) => x.cluster_id === `nodes-${tenant}`).map((x) => x.agent_id).sort();
      const seen = (await client('GET', '/api/cluster/assignments')).body.assignments as { agent_id: string; cluster_id: string }[];
      expect([tenant, seen.map((x) => x.agent_id).sort()]).toEqual([tenant, mine]);
      const node = await client('GET', '/api/cluster/nodes/node-shared');
      expect([tenant, node.status, [...(node.body.agents as string[])].sort()]).toEqual([tenant, 200, mine]);
    }
    // An admin of every tenant sees all of them.
    expect([...((await root('GET', '/api/cluster/nodes/node-shared')).body.agents as string[])].sort()).toEqual(all.map((x) => x.agent_id).sort());
  }, 60_000);

  it("labels each tenant's agent events with that tenant, never the caller's: default's viewers see none of them, their own tenant sees all", async () => {
    const root = stack.call;
    const url = stack.url;
    const key = async (tenant: string, role: string) => (await root('POST', '/api/admin/keys', { tenant_id: tenant, role, name: `${tenant}-${role}-labels` })).body.secret as string;
    const defaultViewer = await key('default', 'viewer');
    const bViewer = await key('tenant-b', 'viewer');
    const bAdmin = await key('tenant-b', 'admin');
    const bOperator = await key('tenant-b', 'operator');
    const b = api(url, bViewer);
    // The node agent reports each agent started; the reconciler asked the registry to place it.
    const clusterEvents = async () => (await b('GET', '/api/clusters/nodes-tenant-b/events?limit=1000')).body.events as { type: string; tenant_id: string; stream: string }[];
    await eventually(async () => (await clusterEvents()).some((e) => e.type === 'AgentStarted'), { timeoutMs: 30_000, intervalMs: 200, what: "AgentStarted in nodes-tenant-b's events" });
    const own = await clusterEvents();
    const lifecycle = own.filter((e) => ['AgentAssigned', 'AgentStarted'].includes(e.type));
    expect(new Set(lifecycle.map((e) => e.type))).toEqual(new Set(['AgentAssigned', 'AgentStarted']));
    expect(own.filter((e) => e.tenant_id !== 'tenant-b')).toEqual([]);
    expect(lifecycle.some((e) => e.stream.startsWith('node-'))).toBe(true);
    // Its audit trail has them too, as its own.
    const audit = (await api(url, bAdmin)('GET', '/api/audit?cluster=nodes-tenant-b&limit=1000')).body.events as { type: string; tenant_id: string }[];
    expect(audit.filter((e) => e.type === 'AgentAssigned' || e.type === 'AgentStarted').length).toBeGreaterThanOrEqual(2);
    expect(audit.filter((e) => e.tenant_id !== 'tenant-b')).toEqual([]);

    // Live: scale tenant-b's cluster while default's viewer, tenant-b's viewer and the per-tenant NATS feed watch.
    const nc = await connect({ servers: stack.ns.natsUrl });
    const feed: { subject: string; stream: string; clusterId: unknown }[] = [];
    const sub = nc.subscribe(`${stack.ns.prefix}.flotilla.tenants.*.events.>`);
    void (async () => {
      for await (const m of sub) {
        const e = m.json<{ stream: string; data: Record<string, unknown> }>();
        feed.push({ subject: m.subject, stream: e.stream, clusterId: e.data['clusterId'] });
      }
    })();
    await nc.flush();
    const liveDefault = sseEvents(`${url}/api/events/stream`, defaultViewer, 10_000);
    const liveB = sseEvents(`${url}/api/events/stream`, bViewer, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await api(url, bOperator)('POST', '/api/clusters/nodes-tenant-b/scale', { target_workers: 1 })).status).toBe(200);
    const [seenByDefault, seenByB] = await Promise.all([liveDefault, liveB]);
    await nc.close();
    // Replayed from the start of the log, too.
    const replayedByDefault = await sseEvents(`${url}/api/events/stream?after=0`, defaultViewer, 3000);

    for (const seen of [seenByDefault, replayedByDefault]) {
      expect(seen.filter((e) => e.metadata.tenantId !== 'default').map((e) => `${e.type} ${e.stream} ${e.metadata.tenantId}`)).toEqual([]);
      expect(seen.filter((e) => e.stream.startsWith('node-') || String(e.data['clusterId'] ?? e.stream).includes('nodes-tenant-'))).toEqual([]);
    }
    const bTypes = new Set(seenByB.filter((e) => e.stream === 'cluster-nodes-tenant-b' || e.data['clusterId'] === 'nodes-tenant-b').map((e) => e.type));
    expect([...bTypes]).toEqual(expect.arrayContaining(['ClusterScaled', 'AgentAssigned', 'AgentStarted']));
    expect(seenByB.filter((e) => e.metadata.tenantId !== 'tenant-b')).toEqual([]);
    const aboutB = feed.filter((f) => f.stream === 'cluster-nodes-tenant-b' || f.clusterId === 'nodes-tenant-b');
    expect(aboutB.some((f) => f.subject.endsWith('.AgentAssigned'))).toBe(true);
    expect(aboutB.filter((f) => !f.subject.startsWith(`${stack.ns.prefix}.flotilla.tenants.tenant-b.`))).toEqual([]);
    // A shared node's own lifecycle is the platform's: on no tenant's feed.
    expect(feed.filter((f) => f.stream.startsWith('node-') && f.clusterId === undefined)).toEqual([]);
  }, 60_000);
});
