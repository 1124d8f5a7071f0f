import fs from 'node:fs';
import type { Command } from 'commander';
import type { GatewayClient } from './client.js';
import { output, table } from './commands.js';
import { TERMINAL_TASK_STATUSES } from './views.js';
import { sleep, stopSignal } from './watch.js';

interface ApiKey {
  id: string;
  tenant_id: string;
  role: string;
  name: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
}
interface Blueprint {
  id: string;
  name: string;
  latest_version: string;
  status: string;
  tenant_id: string;
}
interface Cluster {
  id: string;
  name: string;
  status: string;
  blueprint_id: string;
  target_workers: number;
  min_workers: number;
  max_workers: number;
  tenant_id: string;
}
interface SimulationOutcome {
  scale_events: number;
  flaps: number;
  minutes_above_queue_threshold: number;
  worker_minutes: number;
  timeline: { at: string; decision: string; target: number; rule: string }[];
}
interface SimulationReply {
  from: string;
  to: string;
  samples: number;
  reproduced: boolean;
  recorded: SimulationOutcome;
  candidate: SimulationOutcome;
}
interface PlacementDryRun {
  events: { type: string }[];
  plan: { placements: { agent_id: string; cluster_id: string; from_node: string | null; to_node: string }[]; unplaced: { agent_id: string; cluster_id: string; reason: string }[] };
}
/** Where a cluster command's dry run would place the agents it leads to (their ids are provisional). */
interface SpawnPlan {
  strategy: string;
  placements: { name?: string; ordinal?: number; role?: string; to_node: string }[];
  unplaced: { name?: string; ordinal?: number; reason: string }[];
}
interface ClusterDiffReply {
  from: { position: string };
  to: { position: string };
  changes: { field: string; from: unknown; to: unknown; events: string[] }[];
  agents: { agent_id: string; name: string; ordinal: number; changes: string[]; from_state: string | null; to_state: string | null; from_node: string | null; to_node: string | null }[];
  events: { position: string; type: string }[];
}
interface Node {
  id: string;
  zone: string;
  status: string;
  health: string;
  agents: string[];
}
interface Task {
  id: string;
  cluster_id: string;
  routed_to: string;
  status: string;
  priority: string;
  attempts: number;
  agent_id: string | null;
  result: unknown;
  error: string | null;
}

/** `--payload`: JSON text, or `@file` (`@-`: standard input). */
function readPayload(value: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    const file = value.slice(1);
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the payload from ${file}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`--payload is not JSON: ${value}`);
  }
}

/** A mistake in the command line itself, found before anything is sent. */
export class UsageError extends Error {}

const enc = encodeURIComponent;
export const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`expected a non-negative integer, got '${v}'`);
  return n;
};
const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};
const clusterRows = (cs: readonly Cluster[]) => cs.map((c) => [c.id, c.name, c.status, c.blueprint_id, `${c.target_workers} [${c.min_workers}..${c.max_workers}]`, c.tenant_id]);
const CLUSTER_HEADER = ['id', 'name', 'status', 'blueprint', 'workers [min..max]', 'tenant'];

/**
 * The operator's commands: API keys, blueprints, clusters, tasks and nodes, each a call to the
 * gateway's REST API with the caller's key (so the gateway's roles and tenancy apply).
 */
export function registerResourceCommands(program: Command, client: () => GatewayClient): void {
  const out = () => output(program.opts<{ json: boolean }>().json);
  const call = <T>(method: string, path: string, body?: unknown, contentType?: string) => client().request<T>(method, path, body, contentType);

  const keys = program.command('keys').description('API keys (admin)');
  keys
    .command('create')
    .description('create an API key; its secret is printed once, here')
    .requiredOption('--tenant <tenant>', "the tenant it acts for ('*' for every tenant)")
    .requiredOption('--role <role>', 'admin, operator or viewer')
    .requiredOption('--name <name>', 'who or what it is for')
    .action(async (o: { tenant: string; role: string; name: string }) => {
      const r = await call<{ key: ApiKey; secret: string }>('POST', '/api/admin/keys', { tenant_id: o.tenant, role: o.role, name: o.name });
      out()(r, () => `${table([[r.key.id, r.key.tenant_id, r.key.role, r.key.name]], ['id', 'tenant', 'role', 'name'])}\n\nsecret (shown once): ${r.secret}`);
    });
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--tenant <tenant>', 'only this tenant')
    .action(async (o: { tenant?: string }) => {
      const r = await call<{ keys: ApiKey[]; total: number }>('GET', `/api/admin/keys${query({ tenant_id: o.tenant, limit: 500 })}`);
      out()(r, () => table(r.keys.map((k) => [k.id, k.tenant_id, k.role, k.name, k.created_at, k.revoked_at ?? 'active']), ['id', 'tenant', 'role', 'name', 'created', 'revoked']));
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key (every gateway drops it at once)')
    .option('--reason <reason>', 'why', 'revoked')
    .action(async (id: string, o: { reason: string }) => {
      const k = await call<ApiKey>('DELETE', `/api/admin/keys/${enc(id)}${query({ reason: o.reason })}`);
      out()(k, () => `revoked ${k.id} (${k.name}) at ${k.revoked_at}`);
    });

  const blueprints = program.command('blueprints').description('blueprints');
  blueprints
    .command('apply <file>')
    .description('register a blueprint (YAML or JSON) or a new version of it')
    .action(async (file: string) => {
      if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const text = fs.readFileSync(file, 'utf8');
      const json = file.endsWith('.json');
      const b = await call<Blueprint>('POST', '/api/blueprints?wait=true', text, json ? 'application/json' : 'application/yaml');
      out()(b, () => `registered ${b.id} ${b.latest_version}`);
    });
  blueprints
    .command('list')
    .description('list blueprints')
    .action(async () => {
      const r = await call<{ blueprints: Blueprint[] }>('GET', '/api/blueprints?limit=500');
      out()(r, () => table(r.blueprints.map((b) => [b.id, b.name, b.latest_version, b.status, b.tenant_id]), ['id', 'name', 'version', 'status', 'tenant']));
    });

  const clusters = program.command('clusters').description('clusters of agents');
  /**
   * A cluster command, or with --dry-run its decision: the events it would append and the cluster
   * it would lead to, nothing changed (the API's ?dry_run=true).
   */
  const clusterCommand = async (method: string, path: string, body: unknown, dryRun: boolean | undefined): Promise<void> => {
    if (!dryRun) {
      const c = await call<Cluster>(method, `${path}?wait=true`, body);
      out()(c, () => table(clusterRows([c]), CLUSTER_HEADER));
      return;
    }
    const d = await call<{ dry_run: true; result: Cluster; events: { type: string; data: Record<string, unknown> }[]; plan?: SpawnPlan }>(method, `${path}?dry_run=true`, body);
    const slot = (a: { name?: string; ordinal?: number }) => `${a.name ?? '?'}#${a.ordinal ?? '?'}`;
    out()(d, () =>
      [
        `dry run, nothing changed; it would append ${d.events.length} event${d.events.length === 1 ? '' : 's'}:`,
        ...d.events.map((e) => `  ${e.type} ${JSON.stringify(e.data)}`),
        '',
        table(clusterRows([d.result]), CLUSTER_HEADER),
        ...(d.plan
          ? [
              '',
              `then the reconciler would place (strategy ${d.plan.strategy}):`,
              table(d.plan.placements.map((p) => [slot(p), p.role ?? '', p.to_node]), ['agent', 'role', 'node']),
              ...d.plan.unplaced.map((u) => `would fit nowhere: ${slot(u)}: ${u.reason}`),
            ]
          : []),
      ].join('\n'),
    );
  };
  clusters
    .command('list')
    .description('list clusters')
    .option('--status <status>', 'only this status')
    .action(async (o: { status?: string }) => {
      const r = await call<{ clusters: Cluster[]; total: number }>('GET', `/api/clusters${query({ status: o.status, limit: 500 })}`);
      out()(r, () => table(clusterRows(r.clusters), CLUSTER_HEADER));
    });
  clusters
    .command('get <id>')
    .description('one cluster')
    .option('--at <moment>', 'as it was then: an RFC 3339 time or a log position')
    .action(async (id: string, o: { at?: string }) => {
      const c = await call<Cluster>('GET', `/api/clusters/${enc(id)}${query({ at: o.at })}`);
      out()(c, () => table(clusterRows([c]), CLUSTER_HEADER));
    });
  clusters
    .command('diff <id>')
    .description('what changed between two moments: fields, agents, and the events that did it')
    .requiredOption('--from <moment>', 'an RFC 3339 time or a log position')
    .option('--to <moment>', 'the same (default: now)')
    .addHelpText(
      'after',
      `
Examples:
  flotilla clusters diff marketing-prod --from 2026-12-06T14:00:00Z --to 2026-12-06T15:00:00Z
  flotilla clusters diff marketing-prod --from 81920      since that log position, until now`,
    )
    .action(async (id: string, o: { from: string; to?: string }) => {
      const d = await call<ClusterDiffReply>('GET', `/api/clusters/${enc(id)}/diff${query({ from: o.from, to: o.to })}`);
      out()(d, () =>
        [
          `${id}: from position ${d.from.position} to ${d.to.position}, ${d.events.length} event${d.events.length === 1 ? '' : 's'}`,
          d.changes.length ? table(d.changes.map((c) => [c.field, JSON.stringify(c.from), JSON.stringify(c.to), c.events.join(',')]), ['field', 'from', 'to', 'events']) : 'no field changed',
          d.agents.length
            ? table(d.agents.map((a) => [a.agent_id, `${a.name}-${a.ordinal}`, a.changes.join(','), `${a.from_state ?? '-'} → ${a.to_state ?? '-'}`, `${a.from_node ?? '-'} → ${a.to_node ?? '-'}`]), ['agent', 'slot', 'changes', 'state', 'node'])
            : 'no agent changed',
        ].join('\n'),
      );
    });
  clusters
    .command('create')
    .description('create a cluster from a registered blueprint')
    .requiredOption('--blueprint <id>', 'the blueprint')
    .requiredOption('--name <name>', 'its name')
    .option('--id <id>', 'its id (a DNS label; generated when absent)')
    .option('--workers <n>', 'initial workers (within the blueprint bounds)')
    .option('--dry-run', 'show what it would do, change nothing')
    .action(async (o: { blueprint: string; name: string; id?: string; workers?: string; dryRun?: boolean }) => {
      const body = { blueprint_id: o.blueprint, name: o.name, ...(o.id ? { id: o.id } : {}), ...(o.workers !== undefined ? { target_workers: int(o.workers) } : {}) };
      await clusterCommand('POST', '/api/clusters', body, o.dryRun);
    });
  clusters
    .command('scale <id> <workers>')
    .description('set the number of workers (pauses automatic scaling for its cooldown)')
    .option('--dry-run', 'show what it would do (which workers would stop), change nothing')
    .action(async (id: string, workers: string, o: { dryRun?: boolean }) => {
      await clusterCommand('POST', `/api/clusters/${enc(id)}/scale`, { target_workers: int(workers) }, o.dryRun);
    });
  for (const verb of ['hibernate', 'reactivate'] as const) {
    clusters
      .command(`${verb} <id>`)
      .description(verb === 'hibernate' ? 'stop every worker (fixed agents too unless the cluster keeps them)' : 'bring a hibernated cluster back')
      .option('--dry-run', 'show what it would do, change nothing')
      .action(async (id: string, o: { dryRun?: boolean }) => {
        await clusterCommand('POST', `/api/clusters/${enc(id)}/${verb}`, {}, o.dryRun);
      });
  }
  clusters
    .command('delete <id>')
    .description('decommission a cluster: stop its agents, keep its history')
    .action(async (id: string) => {
      const c = await call<Cluster>('DELETE', `/api/clusters/${enc(id)}?wait=true`);
      out()(c, () => `${c.id}: ${c.status}`);
    });
  clusters
    .command('events <id>')
    .description("a cluster's events, oldest first")
    .option('--severity <severity>', 'debug, info, warning or error (and above)')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (id: string, o: { severity?: string; limit: string }) => {
      const r = await call<{ events: { position: string; occurred_at: string; type: string; severity: string; actor: string }[] }>(
        'GET',
        `/api/clusters/${enc(id)}/events${query({ severity: o.severity, limit: int(o.limit) })}`,
      );
      out()(r, () => table(r.events.map((e) => [e.position, e.occurred_at, e.severity, e.type, e.actor]), ['position', 'at', 'severity', 'type', 'actor']));
    });

  program
    .command('simulate <cluster>')
    .description("replay a candidate scaling policy over the cluster's recorded load, beside what the autoscaler did")
    .option('--set <field=value...>', 'a policy field to change (repeatable), e.g. cooldownUpSeconds=600')
    .option('--policy <json>', 'the policy fields to change, as JSON')
    .option('--from <time>', 'start of the recorded range, RFC 3339 (default: an hour before --to)')
    .option('--to <time>', 'end of the recorded range, RFC 3339 (default: now)')
    .addHelpText(
      'after',
      `
Examples:
  flotilla simulate marketing-prod --set cooldownUpSeconds=600 --from 2026-11-29T00:00:00Z
  flotilla simulate marketing-prod --policy '{"queuePerWorkerUp": 20}'      over the last hour`,
    )
    .action(async (cluster: string, o: { set?: string[]; policy?: string; from?: string; to?: string }) => {
      const policy: Record<string, unknown> = {};
      if (o.policy !== undefined) {
        try {
          Object.assign(policy, JSON.parse(o.policy));
        } catch {
          throw new UsageError(`--policy expects JSON, got '${o.policy}'`);
        }
      }
      for (const pair of o.set ?? []) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new UsageError(`--set expects field=value, got '${pair}'`);
        const raw = pair.slice(eq + 1);
        let value: unknown = raw;
        try {
          value = JSON.parse(raw);
        } catch {
          // A bare word stays a string.
        }
        policy[pair.slice(0, eq)] = value;
      }
      const body = { policy, ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) };
      const r = await call<SimulationReply>('POST', `/api/clusters/${enc(cluster)}/simulate`, body);
      out()(r, () =>
        [
          `${cluster}: ${r.samples} snapshots from ${r.from} to ${r.to}; the recorded policy ${r.reproduced ? 'reproduces' : 'does NOT reproduce'} the recorded decisions`,
          table(
            (['scale_events', 'flaps', 'minutes_above_queue_threshold', 'worker_minutes'] as const).map((k) => [k, r.recorded[k], r.candidate[k]]),
            ['', 'recorded', 'candidate'],
          ),
          '',
          'candidate decisions:',
          ...(r.candidate.timeline.length ? r.candidate.timeline.map((d) => `  ${d.at}  ${d.decision} → ${d.target}  (${d.rule})`) : ['  none']),
        ].join('\n'),
      );
    });

  const tasks = program.command('tasks').description('tasks');
  tasks
    .command('submit <cluster>')
    .description('queue a task on a cluster; with --wait, print its result (exit 0 completed, 1 failed, 2 timed out)')
    .option('--payload <json|@file>', 'the input, as JSON, or @file to read it from a file (@- for stdin)', 'null')
    .option('--priority <priority>', 'high, normal or low', 'normal')
    .option('--capability <capability>', 'a capability the agent must have')
    .option('--idempotency-key <key>', 'a repeat with this key returns the first task')
    .option('--wait', 'wait until the task ends and print its result')
    .option('--timeout <s>', 'with --wait: give up after this many seconds (exit 2)', '60')
    .addHelpText(
      'after',
      `
Examples:
  flotilla tasks submit marketing-prod --payload '{"topic":"launch"}' --wait
  flotilla tasks submit marketing-prod --payload @task.json --priority high --capability research`,
    )
    .action(async (cluster: string, o: { payload: string; priority: string; capability?: string; idempotencyKey?: string; wait?: boolean; timeout: string }) => {
      const timeout = Number(o.timeout);
      if (!(timeout > 0)) throw new UsageError(`--timeout expects seconds, got '${o.timeout}'`);
      const t = await call<Task>('POST', `/api/clusters/${enc(cluster)}/tasks`, {
        payload: readPayload(o.payload),
        priority: o.priority,
        ...(o.capability ? { capability: o.capability } : {}),
        ...(o.idempotencyKey ? { idempotency_key: o.idempotencyKey } : {}),
      });
      if (!o.wait) {
        out()(t, () => `${t.id}: ${t.status} on ${t.routed_to}`);
        return;
      }
      await followTask(t.id, timeout, false);
    });
  tasks
    .command('get <id>')
    .description('a task, with its state and result')
    .action(async (id: string) => {
      const t = await call<Task>('GET', `/api/tasks/${enc(id)}`);
      out()(t, () => `${table([[t.id, t.cluster_id, t.status, t.priority, t.attempts, t.error ?? '']], ['id', 'cluster', 'status', 'priority', 'attempts', 'error'])}\n\nresult: ${JSON.stringify(t.result)}`);
    });
  tasks
    .command('follow <id>')
    .description('print a task\'s status as it changes until it ends (exit 0 completed, 1 failed, 2 timed out)')
    .option('--timeout <s>', 'give up after this many seconds (exit 2)', '300')
    .addHelpText('after', '\nExample:\n  flotilla tasks follow task_01j9…')
    .action(async (id: string, o: { timeout: string }) => {
      const timeout = Number(o.timeout);
      if (!(timeout > 0)) throw new UsageError(`--timeout expects seconds, got '${o.timeout}'`);
      await followTask(id, timeout, true);
    });

  /**
   * Polls a task until it ends (tasks are not on the event stream: their progress is the task
   * record), printing each status change to stderr and, at the end, the result to stdout.
   */
  const followTask = async (id: string, timeoutS: number, progress: boolean) => {
    const stop = stopSignal(timeoutS);
    let last = '';
    let t: Task | undefined;
    try {
      while (!stop.signal.aborted) {
        t = await call<Task>('GET', `/api/tasks/${enc(id)}`);
        const state = `${t.status} (attempt ${t.attempts}${t.agent_id ? ` on ${t.agent_id}` : ''})`;
        if (state !== last && (progress || process.stderr.isTTY)) process.stderr.write(`${new Date().toISOString()}  ${t.id}  ${state}\n`);
        last = state;
        if (TERMINAL_TASK_STATUSES.includes(t.status)) break;
        await sleep(250, stop.signal);
      }
    } finally {
      stop.dispose();
    }
    if (!t || !TERMINAL_TASK_STATUSES.includes(t.status)) {
      process.stderr.write(`error: task ${id} has not ended after ${timeoutS} s${t ? ` (it is ${t.status})` : ''}\n`);
      process.exitCode = 2;
      return;
    }
    const done = t;
    out()(done, () => (done.status === 'completed' ? `${done.id}: completed\n${JSON.stringify(done.result, null, 2)}` : `${done.id}: ${done.status}: ${done.error ?? ''}`));
    if (done.status !== 'completed') process.exitCode = 1;
  };

  const nodes = program.command('nodes').description('worker nodes');
  nodes
    .command('list')
    .description('list nodes')
    .action(async () => {
      const r = await call<{ nodes: Node[] }>('GET', '/api/cluster/nodes?limit=1000');
      out()(r, () => table(r.nodes.map((n) => [n.id, n.zone, n.status, n.health, n.agents.length]), ['id', 'zone', 'status', 'health', 'agents']));
    });
  /** A placement command's dry run: its events and its plan, nothing changed. */
  const printPlan = (d: PlacementDryRun, what: string) =>
    [
      `dry run, nothing changed: ${what} would append ${d.events.map((e) => e.type).join(', ') || 'nothing'}`,
      d.plan.placements.length ? table(d.plan.placements.map((p) => [p.agent_id, p.cluster_id, p.from_node ?? '-', p.to_node]), ['agent', 'cluster', 'from', 'to']) : 'no agent to place',
      ...d.plan.unplaced.map((u) => `would fit nowhere: ${u.agent_id} (${u.cluster_id}): ${u.reason}`),
    ].join('\n');
  for (const verb of ['drain', 'cordon', 'uncordon'] as const) {
    const cmd = nodes
      .command(`${verb} <id>`)
      .description(verb === 'drain' ? 'move every agent off the node, then mark it drained' : verb === 'cordon' ? 'stop new placements on the node' : 'allow placements again');
    if (verb === 'drain') cmd.option('--dry-run', 'show where each agent would go, change nothing');
    cmd.action(async (id: string, o: { dryRun?: boolean }) => {
      if (o.dryRun) {
        const d = await call<PlacementDryRun>('POST', `/api/cluster/nodes/${enc(id)}/drain?dry_run=true`, {});
        out()(d, () => printPlan(d, `draining ${id}`));
        return;
      }
      const n = await call<Node>('POST', `/api/cluster/nodes/${enc(id)}/${verb}`, {});
      out()(n, () => `${n.id}: ${n.status}`);
    });
  }
  nodes
    .command('strategy <strategy>')
    .description('switch the default placement strategy (moves no agent)')
    .option('--dry-run', 'show how the agents placed now would be spread under it, change nothing')
    .addHelpText('after', '\nExamples:\n  flotilla nodes strategy least-agents --dry-run\n  flotilla nodes strategy round-robin')
    .action(async (strategy: string, o: { dryRun?: boolean }) => {
      if (o.dryRun) {
        const d = await call<PlacementDryRun>('POST', '/api/cluster/balance?dry_run=true', { strategy });
        out()(d, () => printPlan(d, `switching to ${strategy}`));
        return;
      }
      const r = await call<{ strategy: string }>('POST', '/api/cluster/balance', { strategy });
      out()(r, () => `placement strategy: ${r.strategy}`);
    });
}
