import type { Command } from 'commander';
import { ApiError, type GatewayClient } from './client.js';
import { table } from './commands.js';
import { UsageError } from './resources.js';
import { age, num, type AgentView, type ClusterView, type EventView, type HealthView } from './views.js';

const enc = encodeURIComponent;

/**
 * The last `n` events of a cluster (of one type, when given). The API lists events oldest first
 * with a total, so this asks for the total, then for the page that ends there.
 */
export async function lastEvents(c: GatewayClient, clusterId: string, n: number, type?: string): Promise<EventView[]> {
  const base = `/api/clusters/${enc(clusterId)}/events?${type ? `type=${enc(type)}&` : ''}`;
  const head = await c.request<{ events: EventView[]; total: number }>('GET', `${base}limit=1`);
  if (head.total <= 1) return head.events;
  const r = await c.request<{ events: EventView[] }>('GET', `${base}limit=${n}&offset=${Math.max(0, head.total - n)}`);
  return r.events;
}

/** A short sentence for an event, from the fields its type carries. */
export function eventMessage(e: { type: string; data: Record<string, unknown> }): string {
  const d = e.data;
  const parts: string[] = [];
  if (d['from'] !== undefined && d['to'] !== undefined) parts.push(`${String(d['from'])} -> ${String(d['to'])}`);
  if (typeof d['decision'] === 'string') parts.push(`${d['decision']} ${String(d['current'])} -> ${String(d['target'])}`);
  if (typeof d['agentId'] === 'string') parts.push(String(d['agentId']));
  if (typeof d['nodeId'] === 'string') parts.push(`on ${d['nodeId']}`);
  if (typeof d['reason'] === 'string') parts.push(d['reason']);
  if (d['changes'] && typeof d['changes'] === 'object') parts.push(`changed ${Object.keys(d['changes'] as object).join(', ')}`);
  return parts.join(' ');
}

const indent = (text: string, by = '  ') =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n');

async function optional<T>(p: Promise<T>): Promise<T | ApiError> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && err.status !== 0) return err;
    throw err;
  }
}

export function registerDescribe(program: Command, client: () => GatewayClient): void {
  program
    .command('describe')
    .description('everything about one object, for a person to read')
    .argument('<kind>', 'cluster')
    .argument('<id>', 'its id')
    .option('--events <n>', 'how many recent events', '10')
    .addHelpText(
      'after',
      `
Examples:
  flotilla describe cluster marketing-prod
  flotilla describe cluster marketing-prod --events 30`,
    )
    .action(async (kind: string, id: string, o: { events: string }) => {
      if (!['cluster', 'clusters', 'cl'].includes(kind)) throw new UsageError(`describe knows clusters only, not '${kind}'`);
      const n = Number(o.events);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--events expects 1..1000, got '${o.events}'`);
      const c = client();
      const cluster = await c.request<ClusterView>('GET', `/api/clusters/${enc(id)}`);
      const [agents, health, events, decisions, manual] = await Promise.all([
        c.request<{ agents: AgentView[] }>('GET', `/api/clusters/${enc(id)}/agents`),
        optional(c.request<HealthView>('GET', `/api/clusters/${enc(id)}/health`)),
        lastEvents(c, id, n),
        lastEvents(c, id, 5, 'ScalingDecided'),
        lastEvents(c, id, 5, 'ClusterScalingStarted'),
      ]);
      process.stdout.write(`${describeCluster(cluster, agents.agents, health, events, decisions, manual)}\n`);
    });
}

export function describeCluster(
  c: ClusterView,
  agents: readonly AgentView[],
  health: HealthView | ApiError,
  events: readonly EventView[],
  decisions: readonly EventView[],
  scalings: readonly EventView[],
): string {
  const lines: string[] = [];
  const field = (name: string, value: unknown) => lines.push(`${`${name}:`.padEnd(18)}${value === null || value === undefined || value === '' ? '<none>' : String(value)}`);
  field('Name', c.id);
  field('Display name', c.name);
  field('Description', c.description);
  field('Tenant', c.tenant_id);
  field('Type', c.type);
  field('Status', c.status + (c.degraded_reason ? ` (${c.degraded_reason})` : ''));
  field('Blueprint', `${c.blueprint_id} ${c.blueprint_version}`);
  field('Workers', `${c.current_workers} current / ${c.target_workers} target (min ${c.min_workers}, max ${c.max_workers})`);
  field('Agents', `${c.running_agents} running / ${c.desired_agents} desired`);
  field('Circuit', c.circuit + (c.backup_cluster ? ` (backup: ${c.backup_cluster})` : ''));
  field('Created', `${c.created_at} (${age(c.created_at)} ago)`);

  lines.push('Scaling policy:');
  const policy = Object.entries(c.policy);
  lines.push(policy.length ? indent(policy.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')) : '  <none>');

  lines.push('Conditions:');
  if (health instanceof ApiError) lines.push(`  health unavailable: ${health.code}: ${health.message}`);
  else {
    lines.push(`  Health: ${health.status} (score ${num(health.score, 2)})`);
    const comps = Object.entries(health.components);
    if (comps.length) lines.push(indent(table(comps.map(([k, v]) => [k, num(v, 2)]), ['COMPONENT', 'SCORE'])));
    for (const r of health.recommendations) lines.push(`  ! ${r.code}: ${r.message}`);
    for (const node of health.nodes.filter((x) => x.health !== 'healthy')) lines.push(`  node ${node.node_id}: ${node.health}${node.reasons.length ? ` (${node.reasons.join('; ')})` : ''}`);
  }

  lines.push('Agents by node:');
  const byNode = new Map<string, AgentView[]>();
  for (const a of agents.filter((x) => x.node_id)) byNode.set(a.node_id!, [...(byNode.get(a.node_id!) ?? []), a]);
  if (!byNode.size) lines.push('  <none>');
  for (const [node, list] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
    const states = new Map<string, number>();
    for (const a of list) states.set(a.state, (states.get(a.state) ?? 0) + 1);
    lines.push(`  ${node} (${[...states].map(([s, k]) => `${k} ${s}`).join(', ')})`);
    lines.push(indent(table(list.map((a) => [a.id, `${a.name}-${a.ordinal}`, a.role, a.state]), ['AGENT', 'NAME', 'ROLE', 'STATE']), '    '));
  }
  const unplaced = agents.filter((a) => !a.node_id);
  lines.push('Pending agents:');
  lines.push(unplaced.length ? indent(table(unplaced.map((a) => [a.id, `${a.name}-${a.ordinal}`, a.role, a.state, a.reason ?? '(no reason given)']), ['AGENT', 'NAME', 'ROLE', 'STATE', 'WHY'])) : '  <none>');

  lines.push('Scaling decisions:');
  const scaling = [...decisions, ...scalings].sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1)).slice(-5);
  lines.push(
    scaling.length
      ? indent(
          table(
            scaling.map((e) => [age(e.occurred_at), e.type === 'ScalingDecided' ? `autoscaler ${String(e.data['decision'])}` : String(e.data['source'] ?? 'manual'), `${String(e.data['current'] ?? e.data['from'])} -> ${String(e.data['target'] ?? e.data['to'])}`, String(e.data['rule'] ?? '-'), String(e.data['reason'] ?? '')]),
            ['AGE', 'BY', 'WORKERS', 'RULE', 'REASON'],
          ),
        )
      : '  <none>',
  );

  lines.push('Events:');
  lines.push(events.length ? indent(table(events.map((e) => [age(e.occurred_at), e.severity, e.type, e.actor, eventMessage(e)]), ['AGE', 'SEVERITY', 'TYPE', 'ACTOR', 'MESSAGE'])) : '  <none>');
  return lines.join('\n');
}
