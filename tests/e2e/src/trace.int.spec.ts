import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { runService } from '@flotilla/platform';
import { startTracing } from '@flotilla/telemetry';
import { createTestDatabase, createTestNamespace, eventually, freePort, TEST_ADMIN_KEY, type TestDatabase, type TestNamespace } from '@flotilla/testing';
// Both services run in this one process so that an in-memory exporter sees every span they make.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { gatewayService } from '@flotilla/gateway/service';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { orchestratorService } from '@flotilla/orchestrator/service';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: trace-v1, name: Traced, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 0 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
`;

describe('one trace from the HTTP request to the read model', () => {
  const exporter = new InMemorySpanExporter();
  let db: TestDatabase;
  let ns: TestNamespace;
  const apps: INestApplication[] = [];
  let url: string;

  beforeAll(async () => {
    startTracing({ serviceName: 'flotilla-test', instanceId: 'trace-test', exporter });
    db = await createTestDatabase('trace');
    ns = createTestNamespace();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    Object.assign(process.env, {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      DATABASE_URL: db.url,
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_GRPC_PORT: String(await freePort()),
      ORCHESTRATOR_HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE_MS: '2000',
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    });
    apps.push(await runService(orchestratorService));
    apps.push(await runService(gatewayService));
  });

  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    await db.drop();
    await ns.cleanup();
  });

  it('spans gateway, orchestrator, the event append and the projection', async () => {
    const res = await fetch(`${url}/api/blueprints?wait=true`, { method: 'POST', headers: { 'content-type': 'application/yaml', 'x-api-key': TEST_ADMIN_KEY }, body: BLUEPRINT });
    expect({ status: res.status, body: res.status === 201 ? null : await res.text() }).toEqual({ status: 201, body: null });
    let spans: ReadableSpan[] = [];
    let traceId = '';
    const names = () => spans.filter((s) => s.spanContext().traceId === traceId).map((s) => s.name);
    await eventually(
      () => {
        spans = exporter.getFinishedSpans();
        traceId = spans.find((s) => s.name === 'POST /api/blueprints')?.spanContext().traceId ?? '';
        return traceId && names().includes('project cluster_blueprints');
      },
      { timeoutMs: 5000, intervalMs: 50, what: () => `the request's trace down to its projection (its spans: ${names().join(', ') || 'none'})` },
    );
    expect(traceId).not.toBe('');
    expect(names()).toEqual(
      expect.arrayContaining([
        'POST /api/blueprints',
        'send orchestrator.blueprints.register',
        'process orchestrator.blueprints.register',
        'command RegisterBlueprint',
        'eventstore append',
        'project cluster_blueprints',
      ]),
    );
    const http = spans.find((s) => s.name === 'POST /api/blueprints')!;
    expect(http.attributes['http.response.status_code']).toBe(201);
    const send = spans.find((s) => s.name === 'send orchestrator.blueprints.register' && s.spanContext().traceId === traceId)!;
    expect(send.attributes['messaging.destination.name']).toBe(`${ns.prefix}.orchestrator.blueprints.register`);
  });
});
