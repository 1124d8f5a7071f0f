import type { HeartbeatReading } from './node-directory.js';

export interface ParsedHeartbeat {
  readonly nodeId: string;
  readonly reading: HeartbeatReading;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const MAX_AGENTS = 10_000;

/**
 * The heartbeat hot path (10,000 nodes × 1 Hz per replica): a hand-written check of the fields
 * the contract's `heartbeat` schema names, without building a zod error tree for every message.
 * Returns null for anything malformed; a heartbeat is advisory, so a bad one is just dropped.
 */
export function parseHeartbeat(raw: unknown): ParsedHeartbeat | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const h = raw as Record<string, unknown>;
  const nodeId = h['node_id'];
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > 253) return null;
  const sentAtMs = typeof h['sent_at'] === 'string' ? Date.parse(h['sent_at']) : NaN;
  const cpu = h['cpu_percent'];
  const memory = h['memory_percent'];
  const disk = h['disk_percent'];
  const load = h['load_avg'];
  if (!Number.isFinite(sentAtMs) || !isNum(cpu) || !isNum(memory) || !isNum(disk) || !isNum(load))
    return null;
  if (cpu < 0 || memory < 0 || memory > 100 || disk < 0 || disk > 100 || load < 0) return null;
  const cores = h['cores'];
  const agentsRaw = h['agents'] ?? [];
  if (!Array.isArray(agentsRaw) || agentsRaw.length > MAX_AGENTS) return null;
  const agents: { agentId: string; clusterId: string; state: string }[] = [];
  for (const a of agentsRaw as unknown[]) {
    const r = a as Record<string, unknown> | null;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r['agent_id'] !== 'string' ||
      typeof r['cluster_id'] !== 'string' ||
      typeof r['state'] !== 'string'
    )
      return null;
    agents.push({ agentId: r['agent_id'], clusterId: r['cluster_id'], state: r['state'] });
  }
  return {
    nodeId,
    reading: {
      sentAtMs,
      cpuPercent: cpu,
      memoryPercent: memory,
      diskPercent: disk,
      loadAvg: load,
      cores: isNum(cores) && cores > 0 ? cores : null,
      agents,
    },
  };
}
