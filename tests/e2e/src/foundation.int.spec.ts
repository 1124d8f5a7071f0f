import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, createTestNamespace, eventually, freePort, startService, type AppName, type ServiceProcess, type TestDatabase, type TestNamespace } from '@flotilla/testing';

const APPS: AppName[] = ['orchestrator', 'registry', 'autoscaler', 'metrics', 'node-agent', 'gateway'];

interface Health {
  status: string;
  services: Record<string, { status: string; latency_ms: number | null }>;
  nats: { status: string; latency_ms: number | null };
  postgres: { status: string; latency_ms: number | null };
}

describe('the stack as separate processes', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let gatewayUrl: string;
  const procs = new Map<AppName, ServiceProcess>();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_found');
    ns = createTestNamespace();
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    env = {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      DATABASE_URL: db.url,
      GATEWAY_HTTP_PORT: String(gatewayPort),
      GATEWAY_GRPC_PORT: String(await freePort()),
      ORCHESTRATOR_HTTP_PORT: '0',
      REGISTRY_HTTP_PORT: '0',
      AUTOSCALER_HTTP_PORT: '0',
      METRICS_HTTP_PORT: '0',
      NODE_AGENT_HTTP_PORT: '0',
      HEALTH_TIMEOUT_MS: '500',
      SHUTDOWN_GRACE_MS: '3000',
      LOG_LEVEL: 'info',
    };
    for (const app of APPS) procs.set(app, startService(app, env));
    await Promise.all([...procs.values()].map((p) => p.waitFor()));
  });

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await db.drop();
    await ns.cleanup();
  });

  const health = async (): Promise<Health> => (await fetch(`${gatewayUrl}/health`)).json() as Promise<Health>;

  it('reports all six services, NATS and PostgreSQL as up, each with its latency', async () => {
    const h = await health();
    expect(Object.keys(h.services).sort()).toEqual([...APPS].sort());
    for (const [name, s] of Object.entries(h.services)) {
      expect({ name, status: s.status }).toEqual({ name, status: 'up' });
      expect(typeof s.latency_ms).toBe('number');
    }
    expect(h.nats.status).toBe('up');
    expect(h.postgres.status).toBe('up');
    expect(h.status).toBe('up');
    const ready = await fetch(`${gatewayUrl}/ready`);
    expect(ready.status).toBe(200);
  });

  it('sees a killed service as down within 5 s and turns not-ready, without the gateway crashing', async () => {
    procs.get('registry')!.kill('SIGKILL');
    const killedAt = Date.now();
    const h = await eventually(health, { until: (h) => h.services['registry']?.status === 'down', timeoutMs: 5000, intervalMs: 200, what: 'the registry down in the health report' });
    expect(h.services['registry']?.status).toBe('down');
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(h.services['orchestrator']?.status).toBe('up');
    const ready = await fetch(`${gatewayUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { down: string[] }).down).toContain('registry');
    expect(procs.get('gateway')!.running).toBe(true);
    expect((await fetch(`${gatewayUrl}/live`)).status).toBe(200);
  });

  it('comes back up when the service restarts', async () => {
    const again = startService('registry', env, 'registry-2');
    procs.set('registry', again);
    await again.waitFor();
    const h = await health();
    expect(h.services['registry']?.status).toBe('up');
    expect((await fetch(`${gatewayUrl}/ready`)).status).toBe(200);
  });

  it('stops cleanly on SIGTERM', async () => {
    const autoscaler = procs.get('autoscaler')!;
    autoscaler.kill('SIGTERM');
    const { code } = await autoscaler.exited;
    expect(code).toBe(0);
    expect(autoscaler.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});

describe('configuration errors', () => {
  it('stops a service at start with a message naming the bad variable', async () => {
    const proc = startService('orchestrator', { ORCHESTRATOR_HTTP_PORT: 'eighty', NATS_URL: 'http://nope' });
    const { code } = await proc.exited;
    expect(code).toBe(78);
    const out = proc.lines.join('\n');
    expect(out).toMatch(/ORCHESTRATOR_HTTP_PORT/);
    expect(out).toMatch(/NATS_URL/);
    expect(out).toMatch(/"eighty"/);
  });
});
