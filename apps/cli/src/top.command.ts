import type { Command } from 'commander';
import { ApiError, type GatewayClient } from './client.js';
import { table } from './commands.js';
import { UsageError } from './resources.js';
import { num, pct, type ClusterView, type MetricPoint, type NodeView } from './views.js';
import { sleep, stopSignal } from './watch.js';

const enc = encodeURIComponent;
/** How far back `top` looks for a cluster's latest metrics point. */
const RECENT_MS = 120_000;

async function latestPoint(c: GatewayClient, id: string): Promise<MetricPoint | undefined> {
  const since = new Date(Date.now() - RECENT_MS).toISOString();
  try {
    const r = await c.request<{ points: MetricPoint[] }>('GET', `/api/clusters/${enc(id)}/metrics?since=${enc(since)}&limit=10000`);
    return r.points.at(-1);
  } catch (err) {
    // A cluster without metrics yet (or the metrics service down) shows dashes, not an error.
    if (err instanceof ApiError && err.status !== 0 && err.status !== 401 && err.status !== 403) return undefined;
    throw err;
  }
}

export async function clustersFrame(c: GatewayClient): Promise<string> {
  const { clusters } = await c.request<{ clusters: ClusterView[] }>('GET', '/api/clusters?limit=1000');
  const live = clusters.filter((x) => x.status !== 'decommissioned');
  const points = await Promise.all(live.map((x) => latestPoint(c, x.id)));
  const rows = live.map((x, i) => {
    const p = points[i];
    return [
      x.id,
      x.status,
      `${x.current_workers}/${x.target_workers}`,
      p ? p.queue_depth : '-',
      p ? num(p.tasks_per_minute, 1) : '-',
      p?.latency_p95_ms === null || p === undefined ? '-' : `${Math.round(p.latency_p95_ms)}ms`,
      p ? pct(p.error_rate * 100) : '-',
      pct(p?.cpu_percent),
      num(p?.health_score ?? x.health_score, 2),
      x.circuit,
    ];
  });
  return table(rows, ['CLUSTER', 'STATUS', 'WORKERS', 'QUEUE', 'TASKS/MIN', 'P95', 'ERRORS', 'CPU%', 'HEALTH', 'CIRCUIT']);
}

export async function nodesFrame(c: GatewayClient): Promise<string> {
  const { nodes } = await c.request<{ nodes: NodeView[] }>('GET', '/api/cluster/nodes?limit=1000');
  const rows = nodes
    .filter((n) => n.status !== 'deregistered')
    .map((n) => [
      n.id,
      n.status,
      n.health,
      pct(n.usage?.cpu_percent),
      pct(n.usage?.memory_percent),
      n.usage ? n.usage.load_avg.toFixed(2) : '-',
      `${n.used.agents}/${n.capacity.max_agents}`,
      `${num(n.used.cpu, 2)}/${num(n.capacity.cpu, 1)}`,
      `${n.used.memory_mb}/${n.capacity.memory_mb}`,
      n.zone,
    ]);
  return table(rows, ['NODE', 'STATUS', 'HEALTH', 'CPU%', 'MEM%', 'LOAD', 'AGENTS', 'CPU (used/cap)', 'MEM MB (used/cap)', 'ZONE']);
}

export function registerTop(program: Command, client: () => GatewayClient): void {
  program
    .command('top')
    .description('load, health and capacity of clusters or nodes, redrawn every few seconds')
    .argument('<what>', 'clusters | nodes')
    .option('--interval <s>', 'seconds between frames', '2')
    .option('--once', 'print one frame and exit')
    .addHelpText(
      'after',
      `
Examples:
  flotilla top clusters                 queue depth, throughput, p95 latency, workers, health
  flotilla top nodes --interval 5       cpu, memory and agents against each node's capacity
  flotilla top clusters --once          one frame, for scripts`,
    )
    .action(async (what: string, o: { interval: string; once?: boolean }) => {
      const frame = ['clusters', 'cluster'].includes(what) ? clustersFrame : ['nodes', 'node'].includes(what) ? nodesFrame : undefined;
      if (!frame) throw new UsageError(`top shows clusters or nodes, not '${what}'`);
      const interval = Number(o.interval);
      if (!(interval > 0)) throw new UsageError(`--interval expects seconds, got '${o.interval}'`);
      const c = client();
      if (o.once) {
        process.stdout.write(`${await frame(c)}\n`);
        return;
      }
      const stop = stopSignal();
      try {
        while (!stop.signal.aborted) {
          const text = await frame(c);
          // Home, clear the screen, then draw: one write, so the frame does not flicker.
          process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  every ${interval}s  (Ctrl-C to quit)\n\n${text}\n`);
          await sleep(interval * 1000, stop.signal);
        }
      } finally {
        stop.dispose();
      }
    });
}
