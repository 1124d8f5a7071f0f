import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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

type Who = 'admin' | 'operator' | 'viewer' | 'none' | 'wrong-tenant';
const WHO: Who[] = ['admin', 'operator', 'viewer', 'none', 'wrong-tenant'];

/** The status class the matrix expects: 401, 403, 404 (another tenant's resource) or "allowed". */
function expected(who: Who, access: Access, tenantBound: boolean): 401 | 403 | 404 | 'allowed' {
  if (who === 'none') return 401;
  const role = who === 'wrong-tenant' ? 'operator' : who;
  if (!ROLES_FOR[access].includes(role)) return 403;
  if (who === 'wrong-tenant' && tenantBound) return 404;
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
    for (const [who, tenant, role] of [
      ['admin', 'tenant-a', 'admin'],
      ['operator', 'tenant-a', 'operator'],
      ['viewer', 'tenant-a', 'viewer'],
      ['wrong-tenant', 'tenant-b', 'operator'],
    ] as const) {
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
    path.startsWith('/api/clusters/') ? ids['cluster']! : path.startsWith('/api/blueprints/') ? ids['blueprint']! : path.startsWith('/api/tasks/') ? ids['task']! : path.startsWith('/api/admin/keys/') ? ids['key']! : ids['node']!;
  const tenantBound = (path: string) => /^\/api\/(clusters|blueprints|tasks)\/:id/.test(path);

  it('has an access rule for every route, and only public probes are open', () => {
    expect(REST_ROUTES.length).toBeGreaterThan(30);
    for (const r of REST_ROUTES) expect(['read', 'write', 'admin']).toContain(r.access);
    expect(PUBLIC_ROUTES).toEqual(['GET /live', 'GET /health', 'GET /ready', 'GET /metrics', 'GET /api/events/stream']);
  });

  it('answers each REST route as the table says, for each identity', async () => {
    const failures: string[] = [];
    // Destructive routes run last, so they do not remove what the others read.
    const ordered = [...REST_ROUTES].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    for (const route of ordered) {
      const path = route.path.replace(':id', idFor(route.path));
      for (const who of WHO) {
        const want = expected(who, route.access, tenantBound(route.path));
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
        const want = expected(who, method.access, bound);
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
});
