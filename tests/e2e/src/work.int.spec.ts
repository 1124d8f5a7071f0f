import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startStack, type Stack } from '@flotilla/testing';

/**
 * Issue 7, "Done when": tasks, the metrics service, the autoscaler and circuit breakers, with
 * every service and two node agents as processes on real NATS and PostgreSQL.
 */

const blueprint = (id: string, opts: { min?: number; target?: number; max?: number; worker?: string; scaling?: string; extra?: string } = {}) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: ${id}, version: 1.0.0 }
cluster:
  type: team
  minWorkers: ${opts.min ?? 1}
  targetWorkers: ${opts.target ?? opts.min ?? 1}
  maxWorkers: ${opts.max ?? 4}
  resources: { cpu: 0.25, memoryMb: 128 }
  monitoring: { intervalSeconds: 1 }
  scaling: ${opts.scaling ?? '{ enabled: false }'}
${opts.extra ?? ''}
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: lead, runtime: ${opts.worker ?? '{ kind: builtin, handler: echo }'} }
`;

interface Outcome {
  task_id: string;
  cluster_id: string;
  routed_to: string;
  outcome: 'completed' | 'failed';
  final: boolean;
}

async function until<T>(probe: () => Promise<T | undefined | false | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await probe();
    if (v) return v;
    last = v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('work, measurement and elasticity (issue 7)', () => {
  let stack: Stack;
  let nc: NatsConnection;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    stack = await startStack({
      label: 'work',
      nodes: [
        { id: 'node-w1', zone: 'zone-a', cpu: '16' },
        { id: 'node-w2', zone: 'zone-b', cpu: '16' },
      ],
      env: { NODE_MAX_AGENTS: '40', NODE_TASK_CONCURRENCY: '32', AGENT_TASK_CONCURRENCY: '2' },
    });
    nc = await connect({ servers: stack.ns.natsUrl });
    const sub = nc.subscribe(`${stack.ns.prefix}.flotilla.tasks.*.*.*`);
    void (async () => {
      for await (const m of sub) outcomes.push(m.json<Outcome>());
    })();
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  const create = async (id: string, yaml: string) => {
    expect((await stack.call('POST', '/api/blueprints?wait=true', yaml)).status).toBe(201);
    const res = await stack.call('POST', '/api/clusters?wait=true', { blueprint_id: id, name: id, cluster_id: id });
    expect(res.status).toBe(201);
    await until(async () => (await stack.call('GET', `/api/clusters/${id}`)).body.status === 'active', 60_000, `${id} active`);
  };
  const events = async (id: string) => (await stack.call('GET', `/api/clusters/${id}/events?limit=1000`)).body.events as { type: string; occurred_at: string; data: Record<string, unknown> }[];

  it('scales a burst of 500 sleep tasks up in steps, drains it, then back down to min; every task completes exactly once', async () => {
    await create(
      'burst',
      blueprint('burst', {
        min: 3,
        max: 12,
        worker: '{ kind: builtin, handler: sleep, delayMs: 150 }',
        scaling: '{ enabled: true, queuePerWorkerUp: 10, queuePerWorkerDown: 2, cpuUp: 100, cpuDown: 99, stepPercent: 50, cooldownUpSeconds: 2, cooldownDownSeconds: 2, stabilizationSeconds: 3 }',
      }),
    );
    const submitted = await Promise.all(Array.from({ length: 500 }, (_, i) => stack.call('POST', '/api/clusters/burst/tasks', { payload: { n: i } })));
    expect(submitted.every((r) => r.status === 202)).toBe(true);
    const ids = new Set(submitted.map((r) => r.body.id as string));
    expect(ids.size).toBe(500);

    await until(async () => outcomes.filter((o) => o.cluster_id === 'burst' && o.outcome === 'completed').length >= 500, 120_000, 'all 500 tasks completed');
    const completed = outcomes.filter((o) => o.cluster_id === 'burst' && o.outcome === 'completed');
    expect(new Set(completed.map((o) => o.task_id))).toEqual(ids);
    expect(completed).toHaveLength(500);
    const sample = await stack.call('GET', `/api/tasks/${[...ids][0]}`);
    expect(sample.body).toMatchObject({ status: 'completed', cluster_id: 'burst', result: { slept_ms: 150 } });

    // Back down to min after the cooldowns.
    await until(async () => (await stack.call('GET', '/api/clusters/burst')).body.target_workers === 3 && (await stack.call('GET', '/api/clusters/burst')).body.status === 'active', 60_000, 'scaled back to min');
    const log = await events('burst');
    const decisions = log.filter((e) => e.type === 'ScalingDecided');
    const ups = decisions.filter((e) => e.data['decision'] === 'up');
    const downs = decisions.filter((e) => e.data['decision'] === 'down');
    expect(ups.length).toBeGreaterThanOrEqual(2);
    expect(downs.length).toBeGreaterThanOrEqual(1);
    for (const d of decisions) {
      expect(typeof d.data['reason']).toBe('string');
      expect(d.data['inputs']).toBeDefined();
    }
    const scaled = log.filter((e) => e.type === 'ClusterScalingStarted');
    expect(scaled.some((e) => e.data['source'] === 'autoscaler' && e.data['direction'] === 'up')).toBe(true);

    // The first up decision came within 2 s of the first snapshot showing more than 10 queued tasks per worker.
    const series = (await stack.call('GET', `/api/clusters/burst/metrics?since=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}&limit=5000`)).body.points as { at: string; queue_depth: number; workers: number }[];
    const crossing = series.find((p) => p.workers > 0 && p.queue_depth / p.workers > 10);
    expect(crossing).toBeDefined();
    expect(Date.parse(ups[0]!.occurred_at) - Date.parse(crossing!.at)).toBeLessThan(2000);
  }, 240_000);

  it('starts a high-priority task before the low ones still queued', async () => {
    await create('prio', blueprint('prio', { min: 1, max: 1, worker: '{ kind: builtin, handler: sleep, delayMs: 100 }' }));
    const lows = [];
    for (let i = 0; i < 30; i++) lows.push((await stack.call('POST', '/api/clusters/prio/tasks', { payload: i, priority: 'low' })).body.id as string);
    await new Promise((r) => setTimeout(r, 300));
    const high = (await stack.call('POST', '/api/clusters/prio/tasks', { payload: 'urgent', priority: 'high' })).body.id as string;
    await until(async () => (await stack.call('GET', `/api/tasks/${high}`)).body.status === 'completed', 30_000, 'high task completed');
    const highStarted = Date.parse((await stack.call('GET', `/api/tasks/${high}`)).body.started_at);
    const lowStarts = await Promise.all(lows.map(async (id) => (await stack.call('GET', `/api/tasks/${id}`)).body.started_at as string | null));
    const startedAfter = lowStarts.filter((s) => s === null || Date.parse(s) > highStarted).length;
    // Most of the backlog was still queued when the high task arrived; it did not wait behind it.
    expect(startedAfter).toBeGreaterThan(15);
  }, 120_000);
});
