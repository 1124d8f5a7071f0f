import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, createTestNamespace, eventually, freePort, startService, TEST_ADMIN_KEY, type ServiceProcess, type TestDatabase, type TestNamespace } from '@flotilla/testing';

const blueprint = (n: number) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: crash-${n}, name: Crash ${n}, version: 1.0.0 }
cluster: { type: custom, minWorkers: 0, targetWorkers: 0, maxWorkers: 0 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
`;

describe('an orchestrator killed in the middle of a series of commands', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let env: NodeJS.ProcessEnv;
  let gateway: ServiceProcess;
  let orchestrator: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('orchcrash');
    ns = createTestNamespace();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      DATABASE_URL: db.url,
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_GRPC_PORT: String(await freePort()),
      ORCHESTRATOR_HTTP_PORT: '0',
      REQUEST_TIMEOUT_MS: '2000',
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    };
    orchestrator = startService('orchestrator', env);
    gateway = startService('gateway', env);
    await Promise.all([orchestrator.waitFor(), gateway.waitFor()]);
  });

  afterAll(async () => {
    await Promise.all([gateway.stop(), orchestrator.stop()]);
    await db.drop();
    await ns.cleanup();
  });

  it('keeps every command it acknowledged, in the log and the read models', async () => {
    const acknowledged: string[] = [];
    const failed: number[] = [];
    const send = async (n: number) => {
      try {
        const res = await fetch(`${url}/api/blueprints`, { method: 'POST', headers: { 'content-type': 'application/yaml', 'x-api-key': TEST_ADMIN_KEY }, body: blueprint(n) });
        if (res.status === 201) acknowledged.push(`crash-${n}`);
        else failed.push(res.status);
      } catch {
        failed.push(0);
      }
    };
    // Commands keep coming while the orchestrator is killed and restarted.
    const series = (async () => {
      for (let n = 0; n < 60; n++) {
        await Promise.all([send(n * 2), send(n * 2 + 1)]);
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    orchestrator.kill('SIGKILL');
    await orchestrator.exited;
    orchestrator = startService('orchestrator', env, 'orchestrator-2');
    await orchestrator.waitFor();
    await series;

    expect(acknowledged.length).toBeGreaterThan(20);
    // While it was down, callers got 503 (never a false success).
    expect(failed.every((s) => s === 503)).toBe(true);

    const pool = new pg.Pool({ connectionString: db.url });
    try {
      const logged = await pool.query<{ stream_id: string }>(`SELECT DISTINCT stream_id FROM eventstore.events WHERE type = 'BlueprintRegistered'`);
      const inLog = new Set(logged.rows.map((r) => r.stream_id.replace(/^blueprint-/, '')));
      for (const id of acknowledged) expect(inLog.has(id)).toBe(true);
      const missing = await eventually(
        async () => {
          const projected = new Set((await pool.query<{ id: string }>('SELECT id FROM cluster_blueprints')).rows.map((r) => r.id));
          return acknowledged.filter((id) => !projected.has(id));
        },
        { until: (missing) => missing.length === 0, timeoutMs: 10_000, intervalMs: 100, what: 'every acknowledged blueprint in the read model' },
      );
      expect(missing).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
