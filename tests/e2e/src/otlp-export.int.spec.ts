import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, createTestDatabase, createTestNamespace, eventually, freePort, startService, TEST_ADMIN_KEY, type ServiceProcess, type TestDatabase, type TestNamespace } from '@flotilla/testing';

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
}

/** A tiny OTLP/HTTP (JSON) receiver: it keeps every span the services export. */
function startReceiver(): Promise<{ url: string; spans: ExportedSpan[]; close: () => Promise<void> }> {
  const spans: ExportedSpan[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const doc = JSON.parse(body) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string; traceId: string; spanId: string; parentSpanId?: string; attributes?: { key: string; value: Record<string, unknown> }[] }[] }[] }[];
        };
        for (const rs of doc.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans) {
              const attributes = Object.fromEntries((s.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
              spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), attributes });
            }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => new Promise((r) => server.close(() => r())) })),
  );
}

describe('traces exported over OTLP from separate processes', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const procs: ServiceProcess[] = [];
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('otlp');
    ns = createTestNamespace();
    receiver = await startReceiver();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env = {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      DATABASE_URL: db.url,
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_GRPC_PORT: String(await freePort()),
      ORCHESTRATOR_HTTP_PORT: '0',
      REGISTRY_HTTP_PORT: '0',
      NODE_AGENT_HTTP_PORT: '0',
      NODE_ID: 'node-otlp',
      NODE_CPU: '8',
      NODE_MEMORY_MB: '8192',
      OTEL_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    };
    for (const app of ['orchestrator', 'registry', 'node-agent', 'gateway'] as const) procs.push(startService(app, env));
    await Promise.all(procs.map((p) => p.waitFor()));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await receiver.close();
    await db.drop();
    await ns.cleanup();
  });

  it('joins gateway, orchestrator, the event append and the projection in one trace, with semantic-convention attributes', async () => {
    const res = await api(url)('POST', '/api/blueprints?wait=true', `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: otlp-v1, name: OTLP, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 0 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
`);
    expect(res.status).toBe(201);
    let trace: ExportedSpan[] = [];
    await eventually(
      () => {
        const root = receiver.spans.find((s) => s.name === 'POST /api/blueprints');
        trace = root ? receiver.spans.filter((s) => s.traceId === root.traceId) : [];
        return trace.some((s) => s.name === 'project cluster_blueprints');
      },
      { timeoutMs: 15_000, intervalMs: 200, what: () => `the request's trace down to its projection (its spans: ${trace.map((s) => s.name).join(', ') || 'none'})` },
    );
    const byName = (n: string) => trace.find((s) => s.name === n);
    expect(byName('POST /api/blueprints')?.service).toBe('flotilla-gateway');
    expect(byName('send orchestrator.blueprints.register')?.service).toBe('flotilla-gateway');
    expect(byName('process orchestrator.blueprints.register')?.service).toBe('flotilla-orchestrator');
    expect(byName('eventstore append')?.service).toBe('flotilla-orchestrator');
    expect(byName('project cluster_blueprints')?.service).toBe('flotilla-orchestrator');
    expect(byName('POST /api/blueprints')?.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/blueprints' });
    expect(byName('send orchestrator.blueprints.register')?.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': `${ns.prefix}.orchestrator.blueprints.register`,
    });
    // The NATS handler's span is a child of the gateway's request span: context crossed processes.
    expect(byName('process orchestrator.blueprints.register')?.parentSpanId).toBe(byName('send orchestrator.blueprints.register')?.spanId);
  });

  it('traces an inter-cluster task from the submitting request through the agent that runs it, carrying its source cluster', async () => {
    const call = api(url);
    const yaml = (id: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: ${id}, version: 1.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 1, resources: { cpu: 0.25, memoryMb: 128 } }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;
    for (const id of ['otlp-src', 'otlp-dst']) {
      expect((await call('POST', '/api/blueprints?wait=true', yaml(id))).status).toBe(201);
      expect((await call('POST', '/api/clusters?wait=true', { blueprint_id: id, name: id, cluster_id: id })).status).toBe(201);
    }
    // One deadline, 30 s, for both waits.
    const deadline = Date.now() + 30_000;
    await eventually(async () => (await call('GET', '/api/clusters/otlp-dst')).body.status === 'active', { timeoutMs: 30_000, intervalMs: 200, what: 'otlp-dst active' });
    const task = await call('POST', '/api/clusters/otlp-dst/tasks', { payload: 'hello from src', source_cluster: 'otlp-src' });
    expect(task.status).toBe(202);
    let trace: ExportedSpan[] = [];
    await eventually(
      () => {
        const executed = receiver.spans.find((s) => s.name === 'task otlp-dst' && s.attributes['flotilla.task_id'] === task.body.id);
        trace = executed ? receiver.spans.filter((s) => s.traceId === executed.traceId) : [];
        // Each process exports its own batches on its own schedule: wait for all three to arrive.
        const services = new Set(trace.map((s) => s.service));
        return trace.some((s) => s.name === 'POST /api/clusters/{id}/tasks' || s.name === 'POST /api/clusters/:id/tasks') && services.size === 3;
      },
      { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 200, what: () => `the task's trace from the request to the node agent (its spans: ${trace.map((s) => `${s.service} ${s.name}`).join(', ') || 'none'})` },
    );
    const executed = trace.find((s) => s.name === 'task otlp-dst')!;
    expect(executed).toBeDefined();
    expect(executed.service).toBe('flotilla-node-agent');
    expect(executed.attributes).toMatchObject({ 'flotilla.source_cluster': 'otlp-src', 'flotilla.routed_to': 'otlp-dst' });
    // One trace from the gateway request, through the orchestrator that queued it, to the node agent.
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['flotilla-gateway', 'flotilla-orchestrator', 'flotilla-node-agent']));
    expect((await call('GET', `/api/tasks/${task.body.id}`)).body).toMatchObject({ status: 'completed', source_cluster: 'otlp-src' });
  }, 60_000);
});
