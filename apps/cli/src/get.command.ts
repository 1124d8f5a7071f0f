import type { Command } from 'commander';
import type { GatewayClient } from './client.js';
import { table } from './commands.js';
import { UsageError } from './resources.js';
import { age, formatOf, num, pct, serialize, type AgentView, type ApiKeyView, type BlueprintView, type ClusterView, type Format, type NodeView, type TaskView } from './views.js';
import { followEvents, sleep, stopSignal, type StreamEvent } from './watch.js';

const enc = encodeURIComponent;

interface KindOptions {
  readonly cluster?: string | undefined;
  /** `--at`: read the state as it was then (kinds with `history`). */
  readonly at?: string | undefined;
}

/** `?at=…` when asked, for reads that accept it. */
const atQuery = (o: KindOptions, first = true) => (o.at === undefined ? '' : `${first ? '?' : '&'}at=${enc(o.at)}`);

/** One kind `get` knows: how to read it, print it, and learn that it changed. */
interface Kind<T> {
  readonly names: readonly string[];
  readonly list?: (c: GatewayClient, o: KindOptions) => Promise<{ raw: unknown; items: T[] }>;
  readonly one?: (c: GatewayClient, id: string, o: KindOptions) => Promise<T>;
  /** Reads of this kind accept `--at` (the state as it was then, folded from the log). */
  readonly history?: boolean;
  readonly key: (t: T) => string;
  readonly header: readonly string[];
  readonly wide: readonly string[];
  readonly row: (t: T) => readonly unknown[];
  readonly wideRow: (t: T) => readonly unknown[];
  /** The SSE filter that announces changes (by id when one is asked for); absent: poll. */
  readonly events?: (id: string | undefined, o: KindOptions) => Record<string, string | undefined>;
}

const kind = <T>(k: Kind<T>) => k as unknown as Kind<unknown>;

export const KINDS: readonly Kind<unknown>[] = [
  kind<ClusterView>({
    names: ['clusters', 'cluster', 'cl'],
    list: async (c) => {
      const r = await c.request<{ clusters: ClusterView[] }>('GET', '/api/clusters?limit=1000');
      return { raw: r, items: r.clusters };
    },
    one: (c, id, o) => c.request<ClusterView>('GET', `/api/clusters/${enc(id)}${atQuery(o)}`),
    history: true,
    key: (c) => c.id,
    header: ['NAME', 'DISPLAY NAME', 'STATUS', 'BLUEPRINT', 'WORKERS', 'TARGET', 'MIN..MAX', 'HEALTH', 'AGE'],
    row: (c) => [c.id, c.name, c.status, c.blueprint_id, c.current_workers, c.target_workers, `${c.min_workers}..${c.max_workers}`, num(c.health_score, 2), age(c.created_at)],
    wide: ['VERSION', 'AGENTS', 'CIRCUIT', 'TYPE', 'TENANT'],
    wideRow: (c) => [c.blueprint_version, `${c.running_agents}/${c.desired_agents}`, c.circuit, c.type, c.tenant_id],
    events: (id) => (id ? { cluster: id } : { aggregate: 'cluster' }),
  }),
  kind<BlueprintView>({
    names: ['blueprints', 'blueprint', 'bp'],
    list: async (c) => {
      const r = await c.request<{ blueprints: BlueprintView[] }>('GET', '/api/blueprints?limit=1000');
      return { raw: r, items: r.blueprints };
    },
    one: (c, id) => c.request<BlueprintView>('GET', `/api/blueprints/${enc(id)}`),
    key: (b) => b.id,
    header: ['NAME', 'DISPLAY NAME', 'VERSION', 'STATUS', 'AGE'],
    row: (b) => [b.id, b.name, b.latest_version, b.status, age(b.created_at)],
    wide: ['TENANT', 'UPDATED'],
    wideRow: (b) => [b.tenant_id, b.updated_at],
    events: () => ({ aggregate: 'blueprint' }),
  }),
  kind<NodeView>({
    names: ['nodes', 'node', 'no'],
    list: async (c, o) => {
      const r = await c.request<{ nodes: NodeView[] }>('GET', `/api/cluster/nodes?limit=1000${atQuery(o, false)}`);
      return { raw: r, items: r.nodes };
    },
    one: (c, id, o) => c.request<NodeView>('GET', `/api/cluster/nodes/${enc(id)}${atQuery(o)}`),
    history: true,
    key: (n) => n.id,
    header: ['NAME', 'STATUS', 'HEALTH', 'ZONE', 'AGENTS', 'CPU%', 'MEM%', 'AGE'],
    row: (n) => [n.id, n.status, n.health, n.zone, `${n.used.agents}/${n.capacity.max_agents}`, pct(n.usage?.cpu_percent), pct(n.usage?.memory_percent), age(n.registered_at)],
    wide: ['HOSTNAME', 'ADDRESS', 'REGION', 'ROLE', 'HEARTBEAT'],
    wideRow: (n) => [n.hostname, n.address, n.region, n.role, age(n.last_heartbeat_at)],
    events: (id) => (id ? { node: id } : { aggregate: 'node' }),
  }),
  kind<TaskView>({
    names: ['tasks', 'task'],
    one: (c, id) => c.request<TaskView>('GET', `/api/tasks/${enc(id)}`),
    key: (t) => t.id,
    header: ['NAME', 'CLUSTER', 'STATUS', 'PRIORITY', 'ATTEMPTS', 'AGENT', 'AGE'],
    row: (t) => [t.id, t.cluster_id, t.status, t.priority, `${t.attempts}/${t.max_attempts}`, t.agent_id, age(t.submitted_at)],
    wide: ['ROUTED TO', 'NODE', 'CAPABILITY', 'ERROR'],
    wideRow: (t) => [t.routed_to, t.node_id, t.capability, t.error],
  }),
  kind<AgentView>({
    names: ['agents', 'agent'],
    list: async (c, o) => {
      if (!o.cluster) throw new UsageError('get agents needs --cluster <id>');
      const r = await c.request<{ agents: AgentView[] }>('GET', `/api/clusters/${enc(o.cluster)}/agents${atQuery(o)}`);
      return { raw: r, items: r.agents };
    },
    history: true,
    key: (a) => a.id,
    header: ['NAME', 'AGENT', 'ROLE', 'STATE', 'NODE', 'AGE'],
    row: (a) => [a.id, `${a.name}-${a.ordinal}`, a.role, a.state, a.node_id, age(a.updated_at)],
    wide: ['CAPABILITIES', 'SPEC', 'REASON'],
    wideRow: (a) => [a.capabilities.join(','), a.spec_hash.slice(0, 12), a.reason],
    events: (_id, o) => ({ cluster: o.cluster }),
  }),
  kind<ApiKeyView>({
    names: ['keys', 'key', 'apikeys'],
    list: async (c) => {
      const r = await c.request<{ keys: ApiKeyView[] }>('GET', '/api/admin/keys?limit=500');
      return { raw: r, items: r.keys };
    },
    key: (k) => k.id,
    header: ['NAME', 'TENANT', 'ROLE', 'OWNER', 'STATE', 'AGE'],
    row: (k) => [k.id, k.tenant_id, k.role, k.name, k.revoked_at ? 'revoked' : 'active', age(k.created_at)],
    wide: ['CREATED', 'REVOKED'],
    wideRow: (k) => [k.created_at, k.revoked_at],
  }),
];

export const KIND_NAMES = KINDS.map((k) => k.names[0]!);

export function kindOf(name: string): Kind<unknown> {
  const k = KINDS.find((x) => x.names.includes(name.toLowerCase()));
  if (!k) throw new UsageError(`unknown kind '${name}' (one of ${KIND_NAMES.join(', ')})`);
  return k;
}

function render(k: Kind<unknown>, items: readonly unknown[], format: Format, header: boolean): string {
  const wide = format === 'wide';
  const rows = items.map((t) => (wide ? [...k.row(t), ...k.wideRow(t)] : k.row(t)));
  const text = table(rows, wide ? [...k.header, ...k.wide] : k.header);
  return header ? text : text.split('\n').slice(1).join('\n');
}

/**
 * `flotilla get <kind> [id]`: a table (or JSON/YAML) of one kind; `-w` keeps following, printing a
 * row again each time it changes. Changes are learned from the event stream where the kind has
 * events (clusters, blueprints, nodes, agents); tasks and keys have none and are polled.
 */
export function registerGet(program: Command, client: () => GatewayClient): void {
  program
    .command('get')
    .description('list or show objects of one kind: clusters, blueprints, nodes, tasks, agents, keys')
    .argument('<kind>', KIND_NAMES.join(' | '))
    .argument('[id]', 'one object (required for tasks)')
    .option('-o, --output <format>', 'wide, json or yaml')
    .option('-w, --watch', 'keep printing rows as they change (Ctrl-C ends)')
    .option('--timeout <s>', 'with --watch: stop after this many seconds')
    .option('--cluster <id>', 'the cluster (agents)')
    .option('--at <moment>', 'as it was then: an RFC 3339 time or a log position (a cluster, agents, nodes)')
    .addHelpText(
      'after',
      `
Examples:
  flotilla get clusters
  flotilla get cluster marketing-prod -o yaml
  flotilla get agents --cluster marketing-prod -o wide
  flotilla get clusters -w --timeout 60     follow target/workers/status as they change
  flotilla get cluster marketing-prod --at 2026-12-06T14:03:00Z      as it was then
  flotilla get task task_01j9… -o json`,
    )
    .action(async (kindName: string, id: string | undefined, o: { output?: string; watch?: boolean; timeout?: string; cluster?: string; at?: string }) => {
      const k = kindOf(kindName);
      if (o.at !== undefined && !k.history) throw new UsageError(`--at reads clusters, agents and nodes, not ${k.names[0]}`);
      if (o.at !== undefined && o.watch) throw new UsageError('--at reads the past: it does not combine with --watch');
      if (o.at !== undefined && k.names[0] === 'clusters' && id === undefined) throw new UsageError('get clusters --at needs a cluster id');
      if (o.output !== undefined && !['wide', 'json', 'yaml'].includes(o.output)) throw new UsageError(`-o must be wide, json or yaml, not '${o.output}'`);
      const format = formatOf(o.output, program.opts<{ json?: boolean }>().json ?? false);
      const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeout !== undefined && !(timeout > 0)) throw new UsageError(`--timeout expects seconds, got '${o.timeout}'`);
      if (id === undefined && !k.list) throw new UsageError(`get ${k.names[0]} needs an id`);
      if (id !== undefined && !k.one && !k.list) throw new UsageError(`get ${k.names[0]} takes no id`);
      const c = client();
      const fetchAll = async (): Promise<{ raw: unknown; items: unknown[] }> => {
        if (id !== undefined && k.one) {
          const one = await k.one(c, id, { at: o.at });
          return { raw: one, items: [one] };
        }
        const all = await k.list!(c, { cluster: o.cluster, at: o.at });
        if (id === undefined) return all;
        const items = all.items.filter((t) => k.key(t) === id);
        if (!items.length) throw new UsageError(`no ${k.names[1]} '${id}'`);
        return { raw: items[0], items };
      };

      if (!o.watch) {
        const r = await fetchAll();
        process.stdout.write(`${format === 'json' || format === 'yaml' ? serialize(r.raw, format) : render(k, r.items, format, true)}\n`);
        return;
      }

      const stop = stopSignal(timeout);
      const printed = new Map<string, string>();
      let first = true;
      const print = (items: readonly unknown[]) => {
        for (const t of items) {
          const text = format === 'json' ? JSON.stringify(t) : format === 'yaml' ? `---\n${serialize(t, 'yaml')}` : render(k, [t], format, false);
          const fingerprint = format === 'json' || format === 'yaml' ? text : JSON.stringify(k.row(t));
          if (printed.get(k.key(t)) === fingerprint) continue;
          printed.set(k.key(t), fingerprint);
          if (first && (format === 'table' || format === 'wide')) process.stdout.write(`${render(k, [], format, true)}\n`);
          first = false;
          process.stdout.write(`${text}\n`);
        }
      };
      // The read models follow the log a moment behind the event stream: a change is read again
      // shortly after its event, and a row is printed only when it differs from what was printed.
      let pending: Promise<void> | undefined;
      let again = false;
      const refresh = async () => {
        if (pending) {
          again = true;
          return pending;
        }
        pending = (async () => {
          do {
            again = false;
            print((await fetchAll()).items);
          } while (again);
        })().finally(() => (pending = undefined));
        return pending;
      };
      const later = (ms: number) => void sleep(ms, stop.signal).then(() => (stop.signal.aborted ? undefined : refresh().catch(() => undefined)));
      try {
        if (k.events) {
          const filter = k.events(id, { cluster: o.cluster });
          await followEvents(
            c,
            filter,
            stop.signal,
            async (_e: StreamEvent) => {
              await refresh();
              later(500);
              later(2000);
            },
            // The stream is open (so no change is missed) before the first listing is printed.
            () => refresh(),
          );
        } else {
          while (!stop.signal.aborted) {
            await refresh();
            await sleep(2000, stop.signal);
          }
        }
      } finally {
        stop.dispose();
      }
    });
}
