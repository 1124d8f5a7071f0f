import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { Headers, registryRoutes, type Route } from '@flotilla/contracts';
import { api, createTestDatabase, createTestNamespace, freePort, startService, TEST_ADMIN_KEY, type ServiceProcess, type TestDatabase, type TestNamespace } from '@flotilla/testing';
// The route tables are read from the gateway itself, so a route added without an entry shows up here.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { GRPC_METHODS, loadFlotillaProto, PUBLIC_ROUTES, REST_ROUTES, ROLES_FOR, type Access } from '@flotilla/gateway/routes';

const BLUEPRINT = (id: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: Auth ${id}, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 0 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
`;

type Who = 'admin' | 'operator' | 'viewer' | 'none' | 'wrong-tenant' | 'other-admin' | 'platform';
const WHO: Who[] = ['admin', 'operator', 'viewer', 'none', 'wrong-tenant', 'other-admin', 'platform'];

/** Each identity's tenant and role: the resources under test belong to tenant-a; '*' spans every tenant. */
const IDENTITY: Record<Exclude<Who, 'none'>, { tenant: string; role: 'admin' | 'operator' | 'viewer' }> = {
  admin: { tenant: 'tenant-a', role: 'admin' },
  operator: { tenant: 'tenant-a', role: 'operator' },
  viewer: { tenant: 'tenant-a', role: 'viewer' },
  'wrong-tenant': { tenant: 'tenant-b', role: 'operator' },
  'other-admin': { tenant: 'tenant-b', role: 'admin' },
  // The bootstrap admin key (only admins may span every tenant).
  platform: { tenant: '*', role: 'admin' },
};

/**
 * What every tenant shares, so what only the platform may change: the registry's routes that change
 * something (register, heartbeat, drain, cordon, uncordon and deregister nodes, place and release
 * agents, the placement strategy, leadership). Named here, not read from the gateway's tables, so
 * a table entry that opens one of them to a tenant fails the matrix.
 */
const FLEET_ROUTES: readonly Route[] = Object.entries(registryRoutes)
  .filter(([name]) => !['listNodes', 'getNode', 'assignments', 'stats', 'leadership'].includes(name))
  .map(([, route]) => route)
  // A node agent's own-node routes (`registry.nodes.register.<nodeId>`…) take no identity from
  // headers: only that node's NATS user may publish them (tests/e2e/src/nats-credentials.int.spec.ts).
  .filter((route) => !route.perNode);
const isFleet = (route: Route) => FLEET_ROUTES.includes(route);

/**
 * The status class the matrix expects: 401, 403, 404 (another tenant's resource) or "allowed".
 * Fleet-wide operations need an admin of every tenant: any one tenant's admin is refused,
 * because nodes, the placement strategy and leadership are shared by all tenants.
 */
function expected(who: Who, access: Access, tenantBound: boolean, fleet: boolean): 401 | 403 | 404 | 'allowed' {
  if (who === 'none') return 401;
  const { tenant, role } = IDENTITY[who];
  if (!ROLES_FOR[access].includes(role)) return 403;
  if (fleet && !(tenant === '*' && role === 'admin')) return 403;
  if (tenantBound && tenant !== '*' && tenant !== 'tenant-a') return 404;
  return 'allowed';
}

describe('authorization matrix: every REST route and gRPC method × identity', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  const procs: ServiceProcess[] = [];
  let url: string;
  let grpcPort: number;
  const keys: Partial<Record<Who, string>> = {};
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createTestDatabase('authz');
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
      REGISTRY_HTTP_PORT: '0',
      METRICS_HTTP_PORT: '0',
      REQUEST_TIMEOUT_MS: '1500',
      RATE_LIMIT_RPS: '10000',
      RATE_LIMIT_BURST: '10000',
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    };
    for (const app of ['orchestrator', 'registry', 'metrics', 'gateway'] as const) procs.push(startService(app, env));
    await Promise.all(procs.map((p) => p.waitFor()));
    const root = api(url);
    for (const [who, { tenant, role }] of Object.entries(IDENTITY) as [Exclude<Who, 'none'>, (typeof IDENTITY)[Exclude<Who, 'none'>]][]) {
      if (who === 'platform') {
        keys[who] = TEST_ADMIN_KEY;
        continue;
      }
      const r = await root('POST', '/api/admin/keys', { tenant_id: tenant, role, name: who });
      expect(r.status).toBe(201);
      keys[who] = r.body.secret;
    }
    const asA = api(url, keys.admin!);
    expect((await asA('POST', '/api/blueprints?wait=true', BLUEPRINT('authz-v1'))).status).toBe(201);
    const cluster = await asA('POST', '/api/clusters?wait=true', { blueprint_id: 'authz-v1', name: 'A', cluster_id: 'authz-a' });
    expect(cluster.status).toBe(201);
    const task = await asA('POST', '/api/clusters/authz-a/tasks', { payload: { hello: 'world' } });
    expect(task.status).toBe(202);
    const spare = await api(url)('POST', '/api/admin/keys', { tenant_id: 'tenant-a', role: 'viewer', name: 'spare' });
    Object.assign(ids, { cluster: 'authz-a', blueprint: 'authz-v1', task: task.body.id, key: spare.body.key.id, node: 'node-none' });
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await db.drop();
    await ns.cleanup();
  });

  const idFor = (path: string): string =>
    path.startsWith('/api/clusters/') ? ids['cluster']! : path.startsWith('/api/blueprints/') ? ids['blueprint']! : path.startsWith('/api/tasks/') ? ids['task']! : path.startsWith('/api/admin/keys/') ? ids['key']! : path.startsWith('/api/tenants/') ? 'tenant-a' : ids['node']!;
  const tenantBound = (path: string) => /^\/api\/(clusters|blueprints|tasks|admin\/keys|tenants)\/:id/.test(path);

  it('has an access rule for every route, and only public probes are open', () => {
    expect(REST_ROUTES.length).toBeGreaterThan(30);
    // The access is the contract route's (one place for REST and gRPC); no service-only route is exposed.
    for (const r of REST_ROUTES) expect(['read', 'write', 'admin', 'platform']).toContain(r.route.access);
    for (const m of GRPC_METHODS) expect(['read', 'write', 'admin', 'platform']).toContain(m.route.access);
    // Probes, the event stream and whoami (both authenticate themselves, checked below), and the
    // dashboard's static files.
    expect(PUBLIC_ROUTES).toEqual(['GET /live', 'GET /health', 'GET /ready', 'GET /metrics', 'GET /api/events/stream', 'GET /', 'GET /assets/*', 'GET /api/whoami']);
  });

  it('needs the platform role for every fleet-wide change, over REST and gRPC', () => {
    const rest = REST_ROUTES.filter((r) => isFleet(r.route)).map((r) => `${r.method} ${r.path}: ${r.route.access}`);
    expect(rest.length).toBeGreaterThanOrEqual(8);
    expect(rest.filter((r) => !r.endsWith(': platform'))).toEqual([]);
    const rpc = GRPC_METHODS.filter((m) => isFleet(m.route)).map((m) => `${m.name}: ${m.route.access}`);
    expect(rpc.length).toBeGreaterThanOrEqual(7);
    expect(rpc.filter((m) => !m.endsWith(': platform'))).toEqual([]);
    // Nothing else needs it: a tenant's own resources stay its admins' to manage.
    expect(REST_ROUTES.filter((r) => r.route.access === 'platform' && !isFleet(r.route)).map((r) => r.path)).toEqual([]);
  });

  it('answers each REST route as the table says, for each identity', async () => {
    const failures: string[] = [];
    // Destructive routes run last, so they do not remove what the others read.
    const ordered = [...REST_ROUTES].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    for (const route of ordered) {
      const path = route.path.replace(':id', idFor(route.path));
      for (const who of WHO) {
        const want = expected(who, route.route.access, tenantBound(route.path), isFleet(route.route));
        const call = api(url, who === 'none' ? null : keys[who]!);
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
        const { status } = await call(route.method, path, body);
        // Another tenant's resource is never found; a malformed request may be refused first (400).
        const ok = want === 'allowed' ? status !== 401 && status !== 403 : want === 404 ? status === 404 || status === 400 : status === want;
        if (!ok) failures.push(`${route.method} ${route.path} as ${who}: got ${status}, expected ${want}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('GET /api/whoami tells each key who it is, and nobody without one; the dashboard is static files open to all', async () => {
    expect((await api(url, null)('GET', '/api/whoami')).status).toBe(401);
    expect((await api(url, 'not-a-key')('GET', '/api/whoami')).status).toBe(401);
    for (const who of ['admin', 'operator', 'viewer', 'platform'] as const) {
      const r = await api(url, keys[who]!)('GET', '/api/whoami');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ role: who === 'platform' ? 'admin' : who, platform: who === 'platform' });
    }
    // The static files hold no data: without a key, / is the dashboard (or 503 when not built), never an API answer.
    expect([200, 503]).toContain((await fetch(`${url}/`)).status);
  });

  it('answers each gRPC method as the table says, for each identity', async () => {
    const pkg = loadFlotillaProto() as unknown as { flotilla: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const clients = new Map<string, grpc.Client>();
    const failures: string[] = [];
    for (const method of GRPC_METHODS) {
      const [service, name] = method.name.split('.') as [string, string];
      if (!clients.has(service)) clients.set(service, new pkg.flotilla.v1[service]!(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()));
      const client = clients.get(service)! as unknown as Record<string, (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void>;
      for (const who of WHO) {
        const md = new grpc.Metadata();
        if (who !== 'none') md.set('x-api-key', keys[who]!);
        const request = { id: name.includes('Blueprint') ? ids['blueprint'] : name === 'GetTask' ? ids['task'] : name.match(/Node/) ? ids['node'] : ids['cluster'], cluster_id: ids['cluster'] };
        const code = await new Promise<number>((resolve) => client[name]!.call(client, request, md, (err) => resolve(err ? err.code : grpc.status.OK)));
        const bound = /Cluster|Agents|Hierarchy|Events|Manifest|GetBlueprint|DeprecateBlueprint|Task/.test(name) && !/ListClusters|CreateCluster/.test(name);
        const want = expected(who, method.route.access, bound, isFleet(method.route));
        const ok =
          want === 'allowed'
            ? code !== grpc.status.UNAUTHENTICATED && code !== grpc.status.PERMISSION_DENIED
            : want === 401
              ? code === grpc.status.UNAUTHENTICATED
              : want === 403
                ? code === grpc.status.PERMISSION_DENIED
                : code === grpc.status.NOT_FOUND || code === grpc.status.INVALID_ARGUMENT;
        if (!ok) failures.push(`${method.name} as ${who}: got ${grpc.status[code]}, expected ${want}`);
      }
    }
    for (const c of clients.values()) c.close();
    expect(failures).toEqual([]);
  });

  it('the registry itself refuses a fleet operation that reaches it over NATS with a one-tenant identity (403), whatever the gateway did', async () => {
    expect(FLEET_ROUTES.length).toBe(11);
    const nc = await connect({ servers: ns.natsUrl });
    const bodies: Record<string, unknown> = {
      [registryRoutes.registerNode.subject]: { node_id: 'node-rogue', hostname: 'rogue', address: '10.9.9.9', capacity: { cpu: 1, memory_mb: 512, max_agents: 1 } },
      [registryRoutes.heartbeat.subject]: { node_id: 'node-none', sent_at: new Date().toISOString(), cpu_percent: 1, memory_percent: 1, disk_percent: 1, load_avg: 0 },
      [registryRoutes.setStrategy.subject]: { strategy: 'random' },
      [registryRoutes.handover.subject]: { role: 'reconciler', member_id: 'nobody' },
      [registryRoutes.place.subject]: {
        cluster_id: 'authz-a',
        tenant_id: 'tenant-a',
        agents: [{ agent_id: 'agent-rogue', name: 'w', role: 'worker', runtime: { kind: 'builtin', handler: 'echo' }, resources: { cpu: 0.1, memory_mb: 64 } }],
      },
      // A placement preview reserves nothing, but shows the whole fleet's capacity: the platform's only.
      [registryRoutes.previewPlace.subject]: {
        cluster_id: 'authz-a',
        tenant_id: 'tenant-a',
        agents: [{ agent_id: 'agent-rogue', name: 'w', role: 'worker', runtime: { kind: 'builtin', handler: 'echo' }, resources: { cpu: 0.1, memory_mb: 64 } }],
      },
      [registryRoutes.release.subject]: { cluster_id: 'authz-a', agent_ids: ['agent-rogue'] },
    };
    const failures: string[] = [];
    try {
      for (const route of FLEET_ROUTES) {
        for (const role of ['admin', 'operator', 'viewer'] as const) {
          const h = natsHeaders();
          h.set(Headers.actor, `key:rogue-${role}`);
          h.set(Headers.tenant, 'tenant-a');
          h.set(Headers.role, role);
          const body = bodies[route.subject] ?? { id: 'node-none' };
          const reply = await nc.request(`${ns.prefix}.${route.subject}`, JSON.stringify(body), { headers: h, timeout: 5000 });
          const envelope = reply.json<{ ok: boolean; error?: { code: string } }>();
          if (envelope.ok || envelope.error?.code !== 'forbidden') failures.push(`${route.subject} as tenant-a ${role}: ${JSON.stringify(envelope).slice(0, 200)}`);
        }
      }
    } finally {
      await nc.close();
    }
    expect(failures).toEqual([]);
  });
});
