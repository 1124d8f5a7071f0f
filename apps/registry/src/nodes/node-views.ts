import type { NodeView } from '@flotilla/contracts';
import { nodeHealth, type PlacementStrategy } from '@flotilla/domain';
import type { NodeEntry } from './node-directory.js';

type ViewStatus = NodeView['status'];

/** The status operators see: a drained node (cordoned after its drain completed) shows as drained. */
export function viewStatus(entry: NodeEntry): ViewStatus {
  const s = entry.state;
  if (s.status === 'cordoned' && s.drained) return 'drained';
  return s.status;
}

export function healthOf(entry: NodeEntry, nowMs: number): NodeView['health'] {
  const r = entry.reading;
  if (!r) return 'unknown';
  return nodeHealth({
    cpu: r.cpuPercent,
    memory: r.memoryPercent,
    disk: r.diskPercent,
    load: r.loadAvg,
    cores: r.cores ?? entry.state.capacity.cpu,
    heartbeatAgeMs: Math.max(0, nowMs - (entry.lastHeartbeatMs ?? entry.lastSeenMs)),
  }).status;
}

/** `clusters`: the clusters whose agents the caller may see (null: every cluster's). */
export function toNodeView(entry: NodeEntry, nowMs: number, clusters: ReadonlySet<string> | null = null): NodeView {
  const s = entry.state;
  const r = entry.reading;
  return {
    id: entry.nodeId,
    hostname: s.hostname,
    address: s.address,
    region: s.region,
    zone: s.zone,
    labels: { ...s.labels },
    services: [...s.services],
    capacity: {
      cpu: s.capacity.cpu,
      memory_mb: s.capacity.memoryMb,
      max_agents: s.capacity.maxAgents,
    },
    used: {
      cpu: s.used.cpu + entry.reservedCpu,
      memory_mb: s.used.memoryMb + entry.reservedMemoryMb,
      agents: s.used.agents + entry.reserved.size,
    },
    role: s.role,
    priority: s.priority,
    status: viewStatus(entry),
    health: healthOf(entry, nowMs),
    last_heartbeat_at:
      entry.lastHeartbeatMs !== null ? new Date(entry.lastHeartbeatMs).toISOString() : null,
    usage: r
      ? {
          cpu_percent: r.cpuPercent,
          memory_percent: r.memoryPercent,
          disk_percent: r.diskPercent,
          load_avg: r.loadAvg,
        }
      : null,
    agents: Object.values(s.assignments)
      .filter((a) => clusters === null || clusters.has(a.clusterId))
      .map((a) => a.agentId)
      .sort(),
    registered_at: s.registeredAt,
  };
}

export interface StatsView {
  nodes: { total: number; by_status: Record<string, number>; by_role: Record<string, number> };
  agents: { total: number; by_state: Record<string, number> };
  capacity: {
    cpu: { total: number; used: number; free: number };
    memory_mb: { total: number; used: number; free: number };
    agents: { total: number; used: number; free: number };
  };
  zones: Record<string, { nodes: number; online: number; agents: number; free_agents: number }>;
  strategy: PlacementStrategy;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const bump = (counts: Record<string, number>, key: string, by = 1): void => {
  counts[key] = (counts[key] ?? 0) + by;
};

/**
 * Nodes by status and role, agents by the state their node last reported (`assigned` until it
 * reports), capacity used and free (reservations count as used), and a per-zone breakdown.
 * Deregistered nodes are left out.
 */
export function computeStats(entries: Iterable<NodeEntry>, strategy: PlacementStrategy): StatsView {
  const stats: StatsView = {
    nodes: { total: 0, by_status: {}, by_role: {} },
    agents: { total: 0, by_state: {} },
    capacity: {
      cpu: { total: 0, used: 0, free: 0 },
      memory_mb: { total: 0, used: 0, free: 0 },
      agents: { total: 0, used: 0, free: 0 },
    },
    zones: {},
    strategy,
  };
  for (const entry of entries) {
    const s = entry.state;
    if (s.status === 'deregistered') continue;
    const status = viewStatus(entry);
    stats.nodes.total++;
    bump(stats.nodes.by_status, status);
    bump(stats.nodes.by_role, s.role);
    const reported = new Map((entry.reading?.agents ?? []).map((a) => [a.agentId, a.state]));
    for (const agentId of Object.keys(s.assignments)) {
      stats.agents.total++;
      bump(stats.agents.by_state, reported.get(agentId) ?? 'assigned');
    }
    if (entry.reserved.size > 0) {
      stats.agents.total += entry.reserved.size;
      bump(stats.agents.by_state, 'reserved', entry.reserved.size);
    }
    const usedAgents = s.used.agents + entry.reserved.size;
    stats.capacity.cpu.total += s.capacity.cpu;
    stats.capacity.cpu.used += s.used.cpu + entry.reservedCpu;
    stats.capacity.memory_mb.total += s.capacity.memoryMb;
    stats.capacity.memory_mb.used += s.used.memoryMb + entry.reservedMemoryMb;
    stats.capacity.agents.total += s.capacity.maxAgents;
    stats.capacity.agents.used += usedAgents;
    const zone = (stats.zones[s.zone] ??= { nodes: 0, online: 0, agents: 0, free_agents: 0 });
    zone.nodes++;
    if (status === 'online') zone.online++;
    zone.agents += usedAgents;
    zone.free_agents += Math.max(0, s.capacity.maxAgents - usedAgents);
  }
  for (const c of [stats.capacity.cpu, stats.capacity.memory_mb, stats.capacity.agents]) {
    c.total = round(c.total);
    c.used = round(c.used);
    c.free = round(Math.max(0, c.total - c.used));
  }
  return stats;
}
