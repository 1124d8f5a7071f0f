import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { eventually, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { grpcClient } from './lifecycle.js';
import { parsePrometheusText } from './prometheus.js';

/**
 * Cost and lineage: an OpenAI-compatible endpoint reports token usage; the node agent records each
 * attempt (agent, spec hash, blueprint version, endpoint, tokens, cost) in the task's lineage and
 * publishes it for accounting; the metrics service turns attempts and the agents' lifecycle into
 * cost per task, per cluster and per tenant, and task metrics per blueprint version.
 */

const PROMPT_TOKENS = 120;
const COMPLETION_TOKENS = 30;
// 120 / 1000 × 0.5 + 30 / 1000 × 2 = 0.06 + 0.06
const TASK_COST = 0.12;

const blueprint = (port: number) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: priced, name: priced, version: 1.4.0 }
cluster:
  type: team
  minWorkers: 2
  maxWorkers: 4
  resources: { cpu: 0.25, memoryMb: 128 }
  monitoring: { intervalSeconds: 1 }
  scaling: { enabled: false }
  pricing:
    currency: EUR
    agentHour: { default: 0.36, roles: { worker: 3.6 } }
    models:
      stub-model: { inputPer1k: 0.5, outputPer1k: 2 }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: writer, role: worker, reportsTo: lead, runtime: { kind: openai, baseUrl: 'http://127.0.0.1:${port}/v1', model: stub-model } }
`;

interface Attempt {
  attempt: number;
  agent_id: string;
  node_id: string;
  spec_hash: string | null;
  blueprint_version: string | null;
  runtime: string;
  endpoint: string;
  model: string | null;
  duration_ms: number;
  tokens: { input: number; output: number } | null;
  cost: number;
  currency: string | null;
  outcome: string;
  error: string | null;
}

describe('cost and lineage', () => {
  let stack: Stack;
  let server: http.Server;
  let port = 0;
  /** Inputs whose first completion request fails (their task's second attempt succeeds). */
  const failOnce = new Set<string>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { messages: { content: string }[] };
        const input = body.messages.at(-1)?.content ?? '';
        if (failOnce.delete(input)) {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'overloaded' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'cmpl-1',
            object: 'chat.completion',
            model: 'stub-model',
            choices: [{ index: 0, message: { role: 'assistant', content: `done: ${input}` }, finish_reason: 'stop' }],
            usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    stack = await startStack({
      label: 'cost',
      nodes: [{ id: 'node-c1', cpu: '8' }],
      env: { AGENT_EGRESS_ALLOW: `default=127.0.0.1:${port}`, BUDGET_CHECK_INTERVAL_MS: '300' },
    });
    expect((await stack.call('POST', '/api/blueprints?wait=true', blueprint(port))).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { blueprint_id: 'priced', name: 'priced', cluster_id: 'priced' })).status).toBe(201);
    await eventually(async () => (await stack.call('GET', '/api/clusters/priced')).body.status === 'active', { timeoutMs: 60_000, intervalMs: 100, what: 'priced active' });
  });

  afterAll(async () => {
    await stack?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const submit = async (input: string) => {
    const res = await stack.call('POST', '/api/clusters/priced/tasks', { payload: input, max_attempts: 3 });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const finished = (id: string) =>
    eventually(async () => (await stack.call('GET', `/api/tasks/${id}`)).body as { status: string; lineage: Attempt[]; usage: Record<string, unknown> }, {
      timeoutMs: 30_000,
      intervalMs: 100,
      until: (t) => t.status === 'completed',
      what: `task ${id} completed`,
    });

  it("records each attempt's agent, spec hash, blueprint version, endpoint, tokens and cost in the task's lineage", async () => {
    failOnce.add('retried');
    const [plain, retried] = [await submit('plain'), await submit('retried')];
    const submittedAt = Date.now();
    const agents = (await stack.call('GET', '/api/clusters/priced/agents')).body.agents as { id: string; spec_hash: string; role: string }[];
    const workerHash = agents.find((a) => a.role === 'worker')!.spec_hash;

    const one = await finished(plain);
    expect(one.lineage).toHaveLength(1);
    const [a] = one.lineage;
    expect(a).toMatchObject({
      attempt: 1,
      node_id: 'node-c1',
      spec_hash: workerHash,
      blueprint_version: '1.4.0',
      runtime: 'openai',
      endpoint: `http://127.0.0.1:${port}/v1/chat/completions`,
      model: 'stub-model',
      tokens: { input: PROMPT_TOKENS, output: COMPLETION_TOKENS },
      cost: TASK_COST,
      currency: 'EUR',
      outcome: 'completed',
      error: null,
    });
    expect(agents.map((x) => x.id)).toContain(a!.agent_id);
    expect(one.usage).toEqual({ input_tokens: PROMPT_TOKENS, output_tokens: COMPLETION_TOKENS, cost: TASK_COST, currency: 'EUR' });

    // The first attempt failed at the endpoint (no tokens, no cost); the second completed. Both
    // name the version that ran them.
    const two = await finished(retried);
    // Retried after its backoff (about a second), though nothing else was queued: a nak'd attempt
    // is not left waiting for the next task to wake an agent.
    expect(Date.now() - submittedAt).toBeLessThan(15_000);
    expect(two.lineage.map((x) => [x.attempt, x.outcome, x.blueprint_version, x.cost])).toEqual([
      [1, 'failed', '1.4.0', 0],
      [2, 'completed', '1.4.0', TASK_COST],
    ]);
    expect(two.lineage[0]!.error).toMatch(/503/);
    expect(two.lineage[0]!.tokens).toBeNull();

    // The same lineage over gRPC.
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      const r = await client.call('GetTask', { id: retried });
      expect(r.code).toBe(0);
      const reply = r.reply as { lineage: (Attempt & { tokens: unknown })[]; usage: Record<string, unknown> };
      expect(reply.lineage.map((x) => [x.attempt, x.outcome, x.blueprint_version, x.spec_hash, x.cost])).toEqual([
        [1, 'failed', '1.4.0', workerHash, 0],
        [2, 'completed', '1.4.0', workerHash, TASK_COST],
      ]);
      expect(reply.lineage[1]!.tokens).toEqual({ input: PROMPT_TOKENS, output: COMPLETION_TOKENS });
      expect(reply.usage).toEqual({ input_tokens: PROMPT_TOKENS, output_tokens: COMPLETION_TOKENS, cost: TASK_COST, currency: 'EUR' });
    } finally {
      client.close();
    }
  });

  it('accounts cost per task, per cluster (agent-hours and tokens) and per tenant, with task metrics per blueprint version', async () => {
    const ids = await Promise.all(['a', 'b', 'c'].map((x) => submit(`batch-${x}`)));
    for (const id of ids) await finished(id);
    // Five completed attempts so far (plain, retried's second, and these three), one failed.
    const cost = await eventually(async () => (await stack.call('GET', '/api/clusters/priced/cost')).body, {
      timeoutMs: 20_000,
      intervalMs: 200,
      until: (c) => c.by_version?.[0]?.attempts === 6,
      what: 'six attempts accounted',
    });
    expect(cost).toMatchObject({ cluster_id: 'priced', currency: 'EUR', period: 'day', input_tokens: 5 * PROMPT_TOKENS, output_tokens: 5 * COMPLETION_TOKENS, token_cost: 0.6 });
    expect(cost.by_version).toEqual([
      expect.objectContaining({ blueprint_version: '1.4.0', attempts: 6, completed: 5, failed: 1, error_rate: 0.1667, input_tokens: 600, output_tokens: 150, token_cost: 0.6 }),
    ]);
    // Agent-hours: the two workers at 3.6 an hour, the supervisor at the default 0.36, since they started.
    const worker = cost.agents.find((x: { role: string }) => x.role === 'worker');
    const lead = cost.agents.find((x: { role: string }) => x.role === 'supervisor');
    expect(worker).toMatchObject({ runtime: 'openai', price_per_hour: 3.6 });
    expect(lead).toMatchObject({ runtime: 'builtin', price_per_hour: 0.36 });
    expect(worker.hours).toBeGreaterThan(lead.hours);
    expect(worker.cost).toBeCloseTo(worker.hours * 3.6, 6);
    expect(cost.agent_cost).toBeCloseTo(worker.cost + lead.cost, 6);
    expect(cost.total_cost).toBeCloseTo(cost.agent_cost + 0.6, 6);

    // Tasks by the version that ran them.
    const byVersion = (await stack.call('GET', '/api/clusters/priced/tasks?blueprint_version=1.4.0')).body;
    expect(byVersion.tasks).toHaveLength(5);
    expect(byVersion.tasks.find((t: { attempts: number }) => t.attempts === 2)).toMatchObject({ outcome: 'completed', blueprint_versions: ['1.4.0'], cost: TASK_COST });
    expect((await stack.call('GET', '/api/clusters/priced/tasks?blueprint_version=9.9.9')).body.tasks).toEqual([]);
    const versions = await stack.call('GET', '/api/clusters/priced/versions');
    expect([versions.status, versions.body.versions]).toEqual([200, cost.by_version]);

    // The cluster's metrics carry today's cost and the per-version figures.
    const metrics = (await stack.call('GET', '/api/clusters/priced/metrics')).body;
    expect(metrics.cost_today).toMatchObject({ currency: 'EUR', token_cost: 0.6 });
    expect(metrics.by_version[0]).toMatchObject({ blueprint_version: '1.4.0', attempts: 6 });

    // The tenant's cost, and the platform must name the tenant.
    const tenant = (await stack.call('GET', '/api/cost?tenant_id=default')).body;
    expect(tenant.clusters).toEqual([expect.objectContaining({ cluster_id: 'priced', currency: 'EUR', token_cost: 0.6 })]);
    expect(tenant.totals).toEqual([expect.objectContaining({ currency: 'EUR', token_cost: 0.6 })]);
    // Read in three queries for the whole tenant, priced as the cluster's own figures are (its agents ran on meanwhile).
    const again = (await stack.call('GET', '/api/clusters/priced/cost')).body;
    expect(tenant.clusters[0].agent_cost).toBeGreaterThanOrEqual(cost.agent_cost);
    expect(tenant.clusters[0].agent_cost).toBeLessThanOrEqual(again.agent_cost);
    expect(tenant.clusters[0].total_cost).toBeCloseTo(tenant.clusters[0].agent_cost + 0.6, 9);
    const unnamed = await stack.call('GET', '/api/cost');
    expect(unnamed.status).toBe(400);
    expect(JSON.stringify(unnamed.body)).toContain('tenant_id');

    // Prometheus: tokens and their cost per cluster, attempts per outcome and version.
    const text = await (await fetch(`http://127.0.0.1:${stack.ports['metrics']}/metrics`)).text();
    const families = parsePrometheusText(text);
    const sample = (name: string, labels: Record<string, string>) =>
      families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(sample('flotilla_task_tokens_total', { cluster: 'priced', direction: 'input' })).toBe(600);
    expect(sample('flotilla_task_token_cost_total', { cluster: 'priced' })).toBeCloseTo(0.6, 9);
    expect(sample('flotilla_task_attempts_accounted_total', { cluster: 'priced', outcome: 'failed', blueprint_version: '1.4.0' })).toBe(1);
  });

  it("accounts no outcome whose subject's node, cluster or task differ from its body, or whose agent is not the cluster's; the tenant is the cluster's, never the message's", async () => {
    const before = (await stack.call('GET', '/api/clusters/priced/cost')).body;
    const agents = (await stack.call('GET', '/api/clusters/priced/agents')).body.agents as { id: string; role: string }[];
    const worker = agents.find((a) => a.role === 'worker')!.id;
    const nc = await connect({ servers: stack.ns.natsUrl });
    try {
      const js = jetstream(nc);
      const outcome = (taskId: string, fields: { node?: string; agent?: string; routedTo?: string } = {}) => ({
        task_id: taskId,
        cluster_id: fields.routedTo ?? 'priced',
        routed_to: fields.routedTo ?? 'priced',
        tenant_id: 'someone-else',
        lineage: {
          attempt: 1,
          agent_id: fields.agent ?? worker,
          node_id: fields.node ?? 'node-c1',
          spec_hash: 'forged',
          blueprint_version: '6.6.6',
          runtime: 'openai',
          endpoint: 'http://127.0.0.1/forged',
          model: 'stub-model',
          started_at: new Date().toISOString(),
          finished_at: new Date().toISOString(),
          duration_ms: 1,
          tokens: { input: 1_000_000, output: 1_000_000 },
          cost: 2500,
          currency: 'EUR',
          outcome: 'completed',
          error: null,
        },
      });
      const publish = (subject: string, body: unknown) => js.publish(`${stack.ns.prefix}.flotilla.outcomes.${subject}`, JSON.stringify(body));
      // Another node's subject for node-c1's attempt; a task id that is not the subject's; an
      // agent of no cluster; a cluster the agent is not in. (The test's connection may publish
      // under any node's subject; a node agent's NATS user only under its own.)
      await publish('node-c2.priced.task_forged1', outcome('task_forged1'));
      await publish('node-c1.priced.task_forged2', outcome('task_forged3'));
      await publish('node-c1.priced.task_forged4', outcome('task_forged4', { agent: 'agent_01m960000000000000000000aa' }));
      await publish('node-c1.other.task_forged5', outcome('task_forged5', { routedTo: 'other' }));
      // Another node speaking for an agent the log places on node-c1.
      await publish('node-c2.priced.task_forged7', outcome('task_forged7', { node: 'node-c2' }));
      // A well-formed one in node-c1's name, claiming another tenant: accounted to the cluster's tenant.
      await publish('node-c1.priced.task_forged6', outcome('task_forged6'));
      const after = await eventually(async () => (await stack.call('GET', '/api/clusters/priced/cost')).body, {
        timeoutMs: 20_000,
        intervalMs: 200,
        until: (c) => c.by_version.some((v: { blueprint_version: string }) => v.blueprint_version === '6.6.6'),
        what: 'the well-formed outcome accounted',
      });
      await delay(1000);
      const settled = (await stack.call('GET', '/api/clusters/priced/cost')).body;
      expect(settled.by_version.find((v: { blueprint_version: string }) => v.blueprint_version === '6.6.6')).toMatchObject({ attempts: 1 });
      expect(settled.token_cost).toBeCloseTo(before.token_cost + 2500, 6);
      expect(after.tenant_id).toBe('default');
      const elsewhere = await stack.call('GET', '/api/cost?tenant_id=someone-else');
      expect(elsewhere.body.clusters).toEqual([]);
      const tasks = (await stack.call('GET', '/api/clusters/priced/tasks?blueprint_version=6.6.6')).body.tasks as { task_id: string }[];
      expect(tasks.map((t) => t.task_id)).toEqual(['task_forged6']);
    } finally {
      await nc.close();
    }
  });

  describe('budgets', () => {
    // Tokens only (agent-hours free), so the spend moves by TASK_COST per task and nothing else.
    const budgeted = (id: string, budgets: string, extra = '') => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: ${id}, version: 2.0.0 }
cluster:
  type: team
  minWorkers: 1
  targetWorkers: 3
  maxWorkers: 4
  resources: { cpu: 0.25, memoryMb: 128 }
  monitoring: { intervalSeconds: 1 }
  scaling: { enabled: false }
  ${extra}
  pricing:
    currency: EUR
    models:
      stub-model: { inputPer1k: 0.5, outputPer1k: 2 }
  budgets: ${budgets}
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: writer, role: worker, reportsTo: lead, runtime: { kind: openai, baseUrl: 'http://127.0.0.1:${port}/v1', model: stub-model } }
`;
    const create = async (id: string, yaml: string) => {
      expect((await stack.call('POST', '/api/blueprints?wait=true', yaml)).status).toBe(201);
      expect((await stack.call('POST', '/api/clusters?wait=true', { blueprint_id: id, name: id, cluster_id: id })).status).toBe(201);
      await eventually(async () => (await stack.call('GET', `/api/clusters/${id}`)).body.status === 'active', { timeoutMs: 60_000, intervalMs: 100, what: `${id} active` });
    };
    const run = async (cluster: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await stack.call('POST', `/api/clusters/${cluster}/tasks`, { payload: `${cluster}-${Date.now()}-${i}` });
        expect(res.status).toBe(202);
        await finished(res.body.id as string);
      }
    };
    const crossings = async (cluster: string) =>
      ((await stack.call('GET', `/api/clusters/${cluster}/events?limit=1000`)).body.events as { type: string; severity: string; data: Record<string, unknown> }[]).filter((e) => e.type === 'BudgetExceeded');
    const crossed = (cluster: string, action: string) =>
      eventually(async () => (await crossings(cluster)).find((e) => e.data['action'] === action), { timeoutMs: 20_000, intervalMs: 200, what: `${cluster}'s ${action} budget crossed` });

    it('warn, scale_down and throttle each fire at their amount, each crossing recorded with its figures', async () => {
      await create('capped', budgeted('capped', '[{ amount: 0.2, action: warn }, { amount: 0.3, action: scale_down }, { amount: 0.5, action: throttle }]'));
      await run('capped', 1);
      // 0.12 spent: below every budget.
      await delay(1500);
      expect(await crossings('capped')).toEqual([]);

      await run('capped', 1);
      const warned = await crossed('capped', 'warn');
      expect(warned.severity).toBe('warning');
      expect(warned.data).toMatchObject({ budget: 0, period: 'day', amount: 0.2, spent: 0.24, currency: 'EUR' });
      expect((await crossings('capped')).map((e) => e.data['action'])).toEqual(['warn']);
      expect((await stack.call('GET', '/api/clusters/capped')).body.target_workers).toBe(3);

      await run('capped', 1);
      const scaled = await crossed('capped', 'scale_down');
      expect(scaled.data).toMatchObject({ budget: 1, amount: 0.3, spent: 0.36 });
      const down = ((await stack.call('GET', '/api/clusters/capped/events?limit=1000')).body.events as { type: string; data: Record<string, unknown> }[]).find((e) => e.type === 'ClusterScalingStarted' && e.data['source'] === 'budget');
      expect(down?.data).toMatchObject({ from: 3, to: 1, direction: 'down' });
      await eventually(async () => (await stack.call('GET', '/api/clusters/capped')).body, { until: (c) => c.target_workers === 1 && c.current_workers === 1, timeoutMs: 30_000, intervalMs: 200, what: 'capped down to its minimum' });

      await run('capped', 2);
      const throttled = await crossed('capped', 'throttle');
      expect(throttled.data).toMatchObject({ budget: 2, amount: 0.5, spent: 0.6 });
      const refused = await stack.call('POST', '/api/clusters/capped/tasks', { payload: 'one too many' });
      expect(refused.status).toBe(429);
      expect(refused.body.error.details).toMatchObject({ reason: 'budget_exceeded', amount: 0.5, spent: 0.6, currency: 'EUR', period: 'day' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // Each budget crossed once, whatever the watch saw since.
      expect((await crossings('capped')).map((e) => e.data['action'])).toEqual(['warn', 'scale_down', 'throttle']);
      const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${stack.ports['metrics']}/metrics`)).text());
      const exceeded = families.get('flotilla_cluster_budget_exceeded')!.samples.filter((x) => x.labels['cluster'] === 'capped');
      expect(exceeded.map((x) => [x.labels['action'], x.value]).sort()).toEqual([['scale_down', 1], ['throttle', 1], ['warn', 1]]);
    });

    it('failover sends the tasks to the backup cluster once its amount is reached', async () => {
      await create('spill', budgeted('spill', '[{ amount: 0.2, action: failover }]', 'backupCluster: priced'));
      await run('spill', 2);
      const failover = await crossed('spill', 'failover');
      expect(failover.data).toMatchObject({ amount: 0.2, spent: 0.24 });
      const res = await stack.call('POST', '/api/clusters/spill/tasks', { payload: 'spilled' });
      expect(res.status).toBe(202);
      expect(res.body.routed_to).toBe('priced');
      const done = await finished(res.body.id as string);
      // Run by the backup's agents, at the backup's version.
      expect(done.lineage[0]!.blueprint_version).toBe('1.4.0');
    });
  });

  // Last: a throttle on the tenant refuses every one of its clusters' tasks for the rest of the day.
  it("a tenant's budgets count the spend of all its clusters: warn and throttle fire at their amount, recorded on the tenant and on each cluster", async () => {
    const bad = await stack.call('PUT', '/api/tenants/default/budgets', { budgets: [{ amount: 1, action: 'failover' }] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error)).toContain('budgets[0].action');
    // The tenant has spent more than 0.5 EUR on tokens by now (the tests above), and far less than a million.
    const set = await stack.call('PUT', '/api/tenants/default/budgets', {
      budgets: [
        { amount: 0.5, currency: 'EUR', action: 'warn' },
        { amount: 0.5, currency: 'EUR', period: 'month', action: 'throttle' },
        { amount: 1_000_000, currency: 'EUR', action: 'scale_down' },
      ],
    });
    expect(set.status).toBe(200);
    expect(set.body.budgets[0]).toEqual({ amount: 0.5, currency: 'EUR', period: 'day', action: 'warn' });
    const budgets = await eventually(async () => (await stack.call('GET', '/api/tenants/default/budgets')).body as { crossings: { budget: number; action: string; spent: number; amount: number; period: string }[] }, {
      until: (b) => b.crossings.length === 2,
      timeoutMs: 20_000,
      intervalMs: 200,
      what: "the tenant's warn and throttle budgets crossed",
    });
    expect(budgets.crossings.map((c) => [c.budget, c.action, c.period, c.amount])).toEqual([
      [0, 'warn', 'day', 0.5],
      [1, 'throttle', 'month', 0.5],
    ]);
    expect(budgets.crossings.every((c) => c.spent >= 0.5)).toBe(true);
    // Every cluster of the tenant takes the throttle, with the tenant's figures.
    const refused = await eventually(async () => stack.call('POST', '/api/clusters/priced/tasks', { payload: 'over the tenant budget' }), { until: (r) => r.status === 429, timeoutMs: 20_000, intervalMs: 200, what: 'priced throttled' });
    expect(refused.body.error.details).toMatchObject({ reason: 'budget_exceeded', scope: 'tenant', amount: 0.5, currency: 'EUR', period: 'month' });
    expect(refused.body.error.message).toContain("the cluster's tenant spent");
    const onCluster = ((await stack.call('GET', '/api/clusters/priced/events?limit=1000')).body.events as { type: string; data: Record<string, unknown> }[]).filter((e) => e.type === 'BudgetExceeded' && e.data['scope'] === 'tenant');
    expect(onCluster.map((e) => e.data['action'])).toEqual(['throttle']);
    const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${stack.ports['metrics']}/metrics`)).text());
    const exceeded = families.get('flotilla_tenant_budget_exceeded')!.samples.filter((x) => x.labels['tenant'] === 'default');
    expect(exceeded.map((x) => [x.labels['action'], x.value]).sort()).toEqual([['scale_down', 0], ['throttle', 1], ['warn', 1]]);
  });
});
