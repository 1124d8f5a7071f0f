import { stringify } from 'yaml';

/** The gateway's replies, as far as the console commands read them (snake_case, as on the wire). */
export interface ClusterView {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  type: string;
  status: string;
  blueprint_id: string;
  blueprint_version: string;
  min_workers: number;
  max_workers: number;
  target_workers: number;
  current_workers: number;
  desired_agents: number;
  running_agents: number;
  health_score: number | null;
  circuit: string;
  degraded_reason: string | null;
  backup_cluster: string | null;
  policy: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}
export interface BlueprintView {
  id: string;
  tenant_id: string;
  name: string;
  latest_version: string;
  status: string;
  created_at: string;
  updated_at: string;
}
export interface BlueprintDetails extends BlueprintView {
  versions: { version: string; hash: string; created_at: string }[];
}
export interface AgentView {
  id: string;
  cluster_id: string;
  name: string;
  role: string;
  ordinal: number;
  state: string;
  node_id: string | null;
  capabilities: string[];
  spec_hash: string;
  reason: string | null;
  updated_at: string;
}
export interface NodeView {
  id: string;
  hostname: string;
  address: string;
  region: string;
  zone: string;
  role: string;
  status: string;
  health: string;
  capacity: { cpu: number; memory_mb: number; max_agents: number };
  used: { cpu: number; memory_mb: number; agents: number };
  usage: { cpu_percent: number; memory_percent: number; disk_percent: number; load_avg: number } | null;
  last_heartbeat_at: string | null;
  agents: string[];
  registered_at: string;
}
export interface TaskView {
  id: string;
  cluster_id: string;
  routed_to: string;
  status: string;
  priority: string;
  capability: string | null;
  result: unknown;
  error: string | null;
  attempts: number;
  max_attempts: number;
  agent_id: string | null;
  node_id: string | null;
  submitted_at: string;
  started_at: string | null;
  finished_at: string | null;
}
export interface ApiKeyView {
  id: string;
  tenant_id: string;
  role: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}
export interface EventView {
  id: string;
  position: string;
  type: string;
  cluster_id: string | null;
  severity: string;
  actor: string;
  occurred_at: string;
  data: Record<string, unknown>;
}
export interface MetricPoint {
  at: string;
  queue_depth: number;
  workers: number;
  tasks_per_minute: number;
  latency_p95_ms: number | null;
  error_rate: number;
  cpu_percent: number | null;
  memory_percent: number | null;
  health_score: number | null;
}
export interface HealthView {
  score: number;
  status: string;
  components: Record<string, number>;
  recommendations: { code: string; message: string }[];
  nodes: { node_id: string; health: string; score: number | null; reasons: string[] }[];
}

export const TERMINAL_TASK_STATUSES = ['completed', 'failed', 'dead_lettered', 'rejected'];

export type Format = 'table' | 'wide' | 'json' | 'yaml';

export function formatOf(o: string | undefined, json: boolean): Format {
  if (json) return 'json';
  if (o === undefined) return 'table';
  if (o === 'wide' || o === 'json' || o === 'yaml') return o;
  return 'table';
}

export function serialize(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value).trimEnd();
}

/** `3m`, `2h`, `4d`: how long ago, like kubectl's AGE column. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${Math.round(v)}%`);
export const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '-' : v.toFixed(digits));
