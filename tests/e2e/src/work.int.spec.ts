import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { api, eventually, startStack, type Stack } from '@flotilla/testing';
import { parsePrometheusText, type Family } from './prometheus.js';

/**
 * Work, measurement and elasticity: tasks, the metrics service, the autoscaler and circuit breakers, with
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
  error: string | null;
}

describe('work, measurement and elasticity', () => {
  let stack: Stack;
  let nc: NatsConnection;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    // Agents reach loopback only where the egress policy opens it: the circuit breaker's backend
    // for the default tenant, the egress test's sink for tenant acme (and no one else).
    const flakyUrl = await startFlaky();
    const sinkUrl = await startSink();
    stack = await startStack({
      label: 'work',
      nodes: [
        { id: 'node-w1', zone: 'zone-a', cpu: '16' },
        { id: 'node-w2', zone: 'zone-b', cpu: '16' },
      ],
      env: {
        NODE_MAX_AGENTS: '40',
        NODE_TASK_CONCURRENCY: '32',
        AGENT_TASK_CONCURRENCY: '2',
        AGENT_EGRESS_ALLOW: `default=127.0.0.1:${new URL(flakyUrl).port};acme=127.0.0.1:${new URL(sinkUrl).port}`,
      },
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
    for (const server of [flaky, sink]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  // The primary of the circuit-breaker test: an HTTP agent backend that fails until told not to.
  let flaky: http.Server | undefined;
  let flakyHealthy = false;
  let flakyCalls = 0;
  let flakyUrl = '';
  const startFlaky = async (): Promise<string> => {
    if (flaky) return flakyUrl;
    flaky = http.createServer((req, res) => {
      flakyCalls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(flakyHealthy ? 200 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(flakyHealthy ? { served_by: 'primary' } : { error: 'backend down' }));
      });
    });
    await new Promise<void>((r) => flaky!.listen(0, '127.0.0.1', r));
    flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/run`;
    return flakyUrl;
  };

  // The egress test's endpoint: records what reaches it.
  let sink: http.Server | undefined;
  let sinkUrl = '';
  const sinkRequests: http.IncomingHttpHeaders[] = [];
  const startSink = async (): Promise<string> => {
    sink = http.createServer((req, res) => {
      sinkRequests.push(req.headers);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ served_by: 'sink' }));
      });
    });
    await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/run`;
    return sinkUrl;
  };

  const create = async (id: string, yaml: string, caller: Stack['call'] = stack.call) => {
    expect((await caller('POST', '/api/blueprints?wait=true', yaml)).status).toBe(201);
    const res = await caller('POST', '/api/clusters?wait=true', { blueprint_id: id, name: id, cluster_id: id });
    expect(res.status).toBe(201);
    await eventually(async () => (await caller('GET', `/api/clusters/${id}`)).body.status === 'active', { timeoutMs: 60_000, intervalMs: 100, what: `${id} active` });
  };
  const events = async (id: string) => (await stack.call('GET', `/api/clusters/${id}/events?limit=1000`)).body.events as { type: string; occurred_at: string; data: Record<string, unknown> }[];

  it('scales a burst of 500 sleep tasks up in steps, drains it, then back down to min; every task completes exactly once; a replay of its policy decides the same', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
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

    await eventually(async () => outcomes.filter((o) => o.cluster_id === 'burst' && o.outcome === 'completed').length >= 500, { timeoutMs: 120_000, intervalMs: 100, what: 'all 500 tasks completed' });
    const completed = outcomes.filter((o) => o.cluster_id === 'burst' && o.outcome === 'completed');
    expect(new Set(completed.map((o) => o.task_id))).toEqual(ids);
    expect(completed).toHaveLength(500);
    const sample = await stack.call('GET', `/api/tasks/${[...ids][0]}`);
    expect(sample.body).toMatchObject({ status: 'completed', cluster_id: 'burst', result: { slept_ms: 150 } });

    // Back down to min after the cooldowns.
    await eventually(async () => (await stack.call('GET', '/api/clusters/burst')).body.target_workers === 3 && (await stack.call('GET', '/api/clusters/burst')).body.status === 'active', { timeoutMs: 60_000, intervalMs: 100, what: 'scaled back to min' });
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

    // What-if: the recorded snapshots replayed through the cluster's own policy decide exactly
    // what the autoscaler decided; a stricter cooldown decides fewer scale events.
    type Timeline = { decision: string; target: number; rule: string }[];
    const key = (d: { decision: string; target: number; rule: string }) => [d.decision, d.target, d.rule];
    const own = await stack.call('POST', '/api/clusters/burst/simulate', { from: since, policy: {} });
    expect(own.status).toBe(200);
    const sim = own.body as { reproduced: boolean; samples: number; recorded: { timeline: Timeline; scale_events: number }; candidate: { timeline: Timeline; scale_events: number } };
    expect(sim.samples).toBeGreaterThan(10);
    expect(sim.recorded.timeline.map(key)).toEqual(decisions.map((d) => [d.data['decision'], d.data['target'], d.data['rule']]));
    expect(sim.candidate.timeline.map(key)).toEqual(sim.recorded.timeline.map(key));
    expect(sim.reproduced).toBe(true);
    const strict = await stack.call('POST', '/api/clusters/burst/simulate', { from: since, policy: { cooldownUpSeconds: 3600, cooldownDownSeconds: 3600 } });
    expect(strict.status).toBe(200);
    const stricter = strict.body as typeof sim;
    expect(stricter.candidate.scale_events).toBeLessThan(stricter.recorded.scale_events);
    expect(stricter.recorded.timeline).toEqual(sim.recorded.timeline);
    const unknown = await stack.call('POST', '/api/clusters/burst/simulate', { from: since, policy: { cooldown: 5 } });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain('cooldown');
  }, 240_000);

  it('starts a high-priority task before the low ones still queued', async () => {
    await create('prio', blueprint('prio', { min: 1, max: 1, worker: '{ kind: builtin, handler: sleep, delayMs: 100 }' }));
    // The backlog is queued at once (one request after another let the single worker drain it
    // while a loaded machine was still submitting, so there was little left to jump).
    const lows = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => (await stack.call('POST', '/api/clusters/prio/tasks', { payload: i, priority: 'low' })).body.id as string),
    );
    await new Promise((r) => setTimeout(r, 300));
    const highSubmitted = Date.now();
    const high = (await stack.call('POST', '/api/clusters/prio/tasks', { payload: 'urgent', priority: 'high' })).body.id as string;
    await eventually(async () => (await stack.call('GET', `/api/tasks/${high}`)).body.status === 'completed', { timeoutMs: 30_000, intervalMs: 100, what: 'high task completed' });
    const highStarted = Date.parse((await stack.call('GET', `/api/tasks/${high}`)).body.started_at);
    const lowStarts = await Promise.all(lows.map(async (id) => (await stack.call('GET', `/api/tasks/${id}`)).body.started_at as string | null));
    // The low tasks that had not started when the high one was submitted: a backlog to jump.
    const queuedAtHigh = lowStarts.filter((s) => s === null || Date.parse(s) >= highSubmitted);
    expect(queuedAtHigh.length).toBeGreaterThanOrEqual(12);
    // The high task did not wait behind them: at most the pulls already under way (two tasks per
    // agent, and one pull in ten starting at the low queue) started before it.
    const overtook = queuedAtHigh.filter((s) => s !== null && Date.parse(s) < highStarted).length;
    expect(overtook).toBeLessThanOrEqual(6);
  }, 120_000);

  it('sawtooth load causes no up/down flapping within the stabilization window', async () => {
    const stabilizationSeconds = 8;
    await create(
      'saw',
      blueprint('saw', {
        min: 2,
        max: 8,
        worker: '{ kind: builtin, handler: sleep, delayMs: 200 }',
        scaling: `{ enabled: true, queuePerWorkerUp: 5, queuePerWorkerDown: 2, cpuUp: 100, cpuDown: 99, stepPercent: 50, cooldownUpSeconds: 1, cooldownDownSeconds: 1, stabilizationSeconds: ${stabilizationSeconds} }`,
      }),
    );
    // Six bursts, one every 3 s, each more than the pool clears before the next: the queue
    // swings up and down inside the window, enough to call for scaling.
    const started = Date.now();
    for (let burst = 0; burst < 6; burst++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => stack.call('POST', '/api/clusters/saw/tasks', { payload: { burst, i } })));
      await new Promise((r) => setTimeout(r, 3000));
    }
    await eventually(async () => outcomes.filter((o) => o.cluster_id === 'saw' && o.outcome === 'completed').length >= 600, { timeoutMs: 120_000, intervalMs: 100, what: 'sawtooth tasks completed' });
    const decisions = (await events('saw')).filter((e) => e.type === 'ScalingDecided' && Date.parse(e.occurred_at) >= started - 1000);
    const moves = decisions.filter((e) => e.data['decision'] === 'up' || e.data['decision'] === 'down');
    expect(moves.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < moves.length; i++) {
      if (moves[i]!.data['decision'] === moves[i - 1]!.data['decision']) continue;
      // A reversal of direction only after the window has passed.
      expect(Date.parse(moves[i]!.occurred_at) - Date.parse(moves[i - 1]!.occurred_at)).toBeGreaterThanOrEqual(stabilizationSeconds * 1000 - 500);
    }
  }, 240_000);

  it('a manual scale pauses automatic scaling of that cluster for the cooldown; its health is scored, nodes included', async () => {
    // Idle and above min, this cluster would be scaled down within seconds (stabilization 1 s,
    // no earlier scale-down) but for the operator's scale-up less than the 20 s cooldown ago.
    // (CPU never triggers here: the host's CPU is the test machine's, busy or not.)
    await create('by-hand', blueprint('by-hand', { min: 1, max: 4, scaling: '{ enabled: true, cpuUp: 100, cpuDown: 99, cooldownUpSeconds: 20, cooldownDownSeconds: 20, stabilizationSeconds: 1, evaluationIntervalSeconds: 1 }' }));
    await eventually(async () => (await stack.call('GET', '/api/clusters/by-hand')).body.status === 'active', { timeoutMs: 30_000, intervalMs: 100, what: 'by-hand active' });
    const scaled = await stack.call('POST', '/api/clusters/by-hand/scale?wait=true', { target_workers: 3 });
    expect(scaled.status).toBeLessThan(300);
    const scaledAt = Date.now();
    await new Promise((r) => setTimeout(r, 8000));
    expect((await stack.call('GET', '/api/clusters/by-hand')).body.target_workers).toBe(3);
    const automatic = (await events('by-hand')).filter((e) => e.type === 'ClusterScalingStarted' && e.data['source'] === 'autoscaler');
    expect({ automatic, within: Date.now() - scaledAt < 20_000 }).toEqual({ automatic: [], within: true });
    // After the cooldown the autoscaler scales the idle cluster down again.
    const first = await eventually(
      async () => (await events('by-hand')).find((e) => e.type === 'ClusterScalingStarted' && e.data['source'] === 'autoscaler'),
      { timeoutMs: 40_000, intervalMs: 100, what: 'an automatic scale-down after the cooldown' },
    );
    expect(first.data['direction']).toBe('down');
    expect(Date.parse(first.occurred_at) - scaledAt).toBeGreaterThanOrEqual(19_000);

    // Its health: a score with its components and recommendations, and each node it runs on
    // scored from that node's own readings.
    const health = await stack.call('GET', '/api/clusters/by-hand/health');
    expect(health.status).toBe(200);
    const h = health.body as { score: number; status: string; components: Record<string, number>; recommendations: { code: string; message: string }[]; nodes: { node_id: string; health: string; score: number | null; reasons: string[] }[] };
    expect(h.score).toBeGreaterThanOrEqual(0);
    expect(h.score).toBeLessThanOrEqual(1);
    expect(['healthy', 'warning', 'critical']).toContain(h.status);
    expect(Object.keys(h.components).length).toBeGreaterThan(0);
    expect(Array.isArray(h.recommendations)).toBe(true);
    expect(h.nodes.length).toBeGreaterThan(0);
    for (const n of h.nodes) {
      expect(['healthy', 'warning', 'critical']).toContain(n.health);
      expect(n.score).not.toBeNull();
      expect(n.score!).toBeGreaterThanOrEqual(0);
      expect(n.score!).toBeLessThanOrEqual(1);
    }
  }, 90_000);

  it('an idle cluster with hibernate-when-idle hibernates, and one task wakes it and completes', async () => {
    await create(
      'sleepy',
      blueprint('sleepy', {
        min: 1,
        max: 3,
        scaling: '{ enabled: true, hibernateWhenIdleSeconds: 3, wakeOnTask: true, cooldownUpSeconds: 1, cooldownDownSeconds: 1, stabilizationSeconds: 2 }',
      }),
    );
    await eventually(async () => (await stack.call('GET', '/api/clusters/sleepy')).body.status === 'hibernated', { timeoutMs: 60_000, intervalMs: 100, what: 'sleepy hibernated' });
    const log = await events('sleepy');
    expect(log.some((e) => e.type === 'ScalingDecided' && e.data['decision'] === 'hibernate' && typeof e.data['reason'] === 'string')).toBe(true);
    const workers = await stack.call('GET', '/api/clusters/sleepy/agents');
    expect(workers.status).toBe(200);
    expect((workers.body.agents as { role: string }[]).filter((a) => a.role === 'worker')).toHaveLength(0);

    const task = await stack.call('POST', '/api/clusters/sleepy/tasks', { payload: 'wake up' });
    expect(task.status).toBe(202);
    await eventually(async () => (await stack.call('GET', `/api/tasks/${task.body.id}`)).body.status === 'completed', { timeoutMs: 60_000, intervalMs: 100, what: 'waking task completed' });
    expect((await stack.call('GET', `/api/tasks/${task.body.id}`)).body.result).toEqual('wake up');
    // The task may finish on the first worker up, before every desired agent runs again.
    await eventually(async () => ['active', 'scaling_up'].includes((await stack.call('GET', '/api/clusters/sleepy')).body.status), { timeoutMs: 30_000, intervalMs: 100, what: 'sleepy active again' });
    // An idempotency key: the repeat answers with the first task and queues nothing more.
    const keyed = { payload: 'once', idempotency_key: 'sleepy-once' };
    const first = await stack.call('POST', '/api/clusters/sleepy/tasks', keyed);
    const again = await stack.call('POST', '/api/clusters/sleepy/tasks', keyed);
    expect([first.status, again.status < 300, again.body.id]).toEqual([202, true, first.body.id]);

    // A hibernated cluster that does not wake on tasks refuses them with the reason.
    await create('dormant', blueprint('dormant', { min: 1, scaling: '{ enabled: false, wakeOnTask: false }' }));
    expect((await stack.call('POST', '/api/clusters/dormant/hibernate?wait=true', {})).status).toBeLessThan(300);
    await eventually(async () => (await stack.call('GET', '/api/clusters/dormant')).body.status === 'hibernated', { timeoutMs: 30_000, intervalMs: 100, what: 'dormant hibernated' });
    const refused = await stack.call('POST', '/api/clusters/dormant/tasks', { payload: 'x' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'conflict', details: { reason: 'cluster_hibernated' } });
    // A refused submission does not spend its idempotency key: the retry is judged again.
    const retry = { payload: 'x', idempotency_key: 'dormant-retry' };
    for (let i = 0; i < 2; i++) expect((await stack.call('POST', '/api/clusters/dormant/tasks', retry)).status).toBe(409);
  }, 180_000);

  it('opens the breaker after 5 failures, sends new tasks to the backup, and fails back when the primary recovers', async () => {
    const url = await startFlaky();
    await create('spare', blueprint('spare', { min: 1 }));
    await create(
      'primary',
      blueprint('primary', {
        min: 1,
        worker: `{ kind: http, url: "${url}" }`,
        extra: '  circuitBreaker: { failureThreshold: 5, openSeconds: 2, halfOpenProbes: 1 }\n  backupCluster: spare',
      }),
    );
    const submit = async (n: number) => (await stack.call('POST', '/api/clusters/primary/tasks', { payload: n, max_attempts: 1 })).body.id as string;
    const final = async (id: string) => eventually(async () => outcomes.find((o) => o.task_id === id && o.final), { timeoutMs: 30_000, intervalMs: 100, what: `task ${id} settled` });

    for (let i = 0; i < 5; i++) expect((await final(await submit(i))).outcome).toBe('failed');
    await eventually(async () => (await events('primary')).some((e) => e.type === 'CircuitBreakerOpened'), { timeoutMs: 15_000, intervalMs: 100, what: 'breaker opened' });
    expect((await stack.call('GET', '/api/clusters/primary')).body.circuit).toBe('open');

    // Open with a backup: new tasks complete on the backup, and the primary's backend sees none.
    const callsWhileOpen = flakyCalls;
    for (let i = 0; i < 3; i++) {
      const o = await final(await submit(100 + i));
      expect(o).toMatchObject({ outcome: 'completed', routed_to: 'spare', cluster_id: 'primary' });
    }
    expect(flakyCalls).toBe(callsWhileOpen);

    // The primary recovers: after the open period a probe reaches it, succeeds, and traffic fails back.
    flakyHealthy = true;
    await eventually(
      async () => {
        const o = await final(await submit(200));
        return o.routed_to === 'primary' && o.outcome === 'completed';
      }, { timeoutMs: 30_000, intervalMs: 100, what: 'a task served by the primary again' });
    await eventually(async () => (await events('primary')).some((e) => e.type === 'CircuitBreakerClosed'), { timeoutMs: 15_000, intervalMs: 100, what: 'breaker closed' });
    const after = await final(await submit(300));
    expect(after).toMatchObject({ outcome: 'completed', routed_to: 'primary' });
    const transitions = (await events('primary')).filter((e) => e.type.startsWith('CircuitBreaker')).map((e) => e.type);
    expect(transitions).toEqual(['CircuitBreakerOpened', 'CircuitBreakerHalfOpened', 'CircuitBreakerClosed']);
  }, 180_000);

  it('the HTTP runtime is no open proxy: an agent reaches only what the egress policy opens for its tenant, and runtime secrets never show', async () => {
    const SECRET = 'Bearer tenant-secret-token-4f7a';
    const acme = api(stack.url, (await stack.call('POST', '/api/admin/keys', { tenant_id: 'acme', role: 'operator', name: 'acme-egress' })).body.secret as string);
    const yaml = (id: string) =>
      blueprint(id, { min: 1, worker: `{ kind: http, url: "${sinkUrl}", headers: { Authorization: "${SECRET}", X-Team: growth } }` });
    const settle = async (caller: Stack['call'], cluster: string) => {
      const submitted = await caller('POST', `/api/clusters/${cluster}/tasks`, { payload: 'ping', max_attempts: 1 });
      expect(submitted.status).toBe(202);
      const id = submitted.body.id as string;
      return eventually(async () => outcomes.find((o) => o.task_id === id && o.final), { timeoutMs: 30_000, intervalMs: 100, what: `task ${id} settled` });
    };

    // Tenant 'default' may not reach the sink on loopback: the task fails and nothing arrives there.
    await create('egress-default', yaml('egress-default'));
    const refused = await settle(stack.call, 'egress-default');
    expect(refused).toMatchObject({ outcome: 'failed' });
    expect(refused.error).toMatch(/may not reach 127\.0\.0\.1/);
    expect(sinkRequests).toHaveLength(0);

    // Tenant acme is allowed exactly that destination: its agent reaches it with the real header.
    await create('egress-acme', yaml('egress-acme'), acme);
    expect(await settle(acme, 'egress-acme')).toMatchObject({ outcome: 'completed' });
    expect(sinkRequests).toHaveLength(1);
    expect(sinkRequests[0]!['authorization']).toBe(SECRET);

    // The API shows header names, never their values: blueprint, agents, hierarchy, events, audit.
    const blueprintView = await acme('GET', '/api/blueprints/egress-acme');
    expect(blueprintView.body.document.agents[1].runtime.headers).toEqual({ Authorization: '[redacted]', 'X-Team': '[redacted]' });
    const agents = await acme('GET', '/api/clusters/egress-acme/agents');
    const worker = (agents.body.agents as { role: string; runtime: Record<string, unknown> }[]).find((a) => a.role === 'worker')!;
    expect(worker.runtime).toMatchObject({ kind: 'http', url: sinkUrl, headers: { Authorization: '[redacted]', 'X-Team': '[redacted]' } });
    for (const [caller, path] of [
      [acme, '/api/blueprints/egress-acme'],
      [acme, '/api/clusters/egress-acme/agents'],
      [acme, '/api/clusters/egress-acme/hierarchy'],
      [acme, '/api/clusters/egress-acme/events?limit=1000'],
      [acme, '/api/clusters/egress-acme/manifest'],
      [stack.call, '/api/audit?limit=5000'],
    ] as const) {
      const res = await caller('GET', path);
      expect([path, res.status]).toEqual([path, 200]);
      expect([path, JSON.stringify(res.body).includes('tenant-secret-token')]).toEqual([path, false]);
    }
  }, 120_000);

  it('serves /metrics as Prometheus text on every service, with the service-level and cluster metrics', async () => {
    const scrape = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheusText(await res.text());
    };
    const services: Record<string, number> = { ...stack.ports };
    delete services['node-agent'];
    for (const [label, proc] of stack.procs) {
      if (proc.app !== 'node-agent') continue;
      services[label] = Number(/"port":(\d+)/.exec(await proc.waitFor(/"msg":"node-agent ready"/))![1]);
    }
    expect(Object.keys(services).sort()).toEqual(['autoscaler', 'gateway', 'metrics', 'node-w1', 'node-w2', 'orchestrator', 'registry']);
    const scraped: Record<string, Map<string, Family>> = {};
    for (const [name, port] of Object.entries(services)) {
      scraped[name] = await scrape(port);
      expect(scraped[name]!.has('flotilla_process_process_cpu_user_seconds_total')).toBe(true);
      expect(scraped[name]!.has('flotilla_nats_errors_total')).toBe(true);
    }
    expect(scraped['gateway']!.has('flotilla_http_requests_total')).toBe(true);
    expect(scraped['gateway']!.has('flotilla_http_request_duration_seconds')).toBe(true);
    // Request rates and latencies of what each service answers over NATS (every one answers pings and more).
    for (const service of ['orchestrator', 'registry', 'metrics']) {
      const answered = scraped[service]!.get('flotilla_nats_request_duration_seconds')?.samples.filter((x) => x.name.endsWith('_count') && x.labels['outcome'] === 'ok') ?? [];
      expect([service, answered.some((x) => x.value > 0)]).toEqual([service, true]);
    }
    for (const writer of ['orchestrator', 'registry']) {
      expect(scraped[writer]!.has('flotilla_eventstore_append_duration_seconds')).toBe(true);
      expect(scraped[writer]!.has('flotilla_db_errors_total')).toBe(true);
    }
    // Each projector runs on the replica that leads it (here the only one).
    expect(scraped['orchestrator']!.has('flotilla_projection_lag_seconds')).toBe(true);
    expect(scraped['metrics']!.has('flotilla_cluster_queue_depth')).toBe(true);
    expect(scraped['node-w1']!.has('flotilla_node_agent_tasks_total')).toBe(true);
  }, 60_000);
});
