// The dashboard's only way in: the gateway's public REST API, with the operator's API key in a
// header (never in a URL). Shapes are the contracts' own types (libs/contracts): the zod schemas
// the gateway's OpenAPI document is generated from, imported as types only (nothing of them ships).
import type {
  AgentView,
  BlueprintView,
  ClusterView,
  EventView,
  HierarchyNode,
  NodeView,
  RouteResponse,
  TaskView,
  assignmentView,
  metricPoint,
  statsView,
  taskRoutes,
  metricsRoutes,
  versionMetrics,
} from '@flotilla/contracts';
import type { z } from 'zod';

export type { AgentView, BlueprintView, ClusterView, EventView, HierarchyNode, NodeView, TaskView };

/** A metrics point as `GET /api/clusters/{id}/metrics` answers it. */
export type MetricPoint = z.infer<typeof metricPoint>;
/** A blueprint version's task metrics (`by_version` of the cluster's metrics). */
export type VersionMetrics = z.infer<typeof versionMetrics>;
/** A dead-lettered task (`GET /api/clusters/{id}/dead-letters`). */
export type DeadLetter = RouteResponse<typeof taskRoutes.deadLetters>['dead_letters'][number];
/** Where an agent runs (`GET /api/cluster/assignments`). */
export type Assignment = z.infer<typeof assignmentView>;
/** Nodes, agents, capacity and the placement strategy (`GET /api/cluster/stats`). */
export type Stats = z.infer<typeof statsView>;

export interface SystemHealth {
  status: string;
  services: Record<string, { status: string; latency_ms: number | null; instance?: string }>;
  nats: { status: string };
  postgres: { status: string };
}

export interface Identity {
  actor: string;
  tenant_id: string;
  role: 'viewer' | 'operator' | 'admin';
  /** Whether the caller may run fleet operations (nodes, placement strategy). */
  platform: boolean;
}

/** What the API said when it refused: its status, code and words, shown as they are. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }

  /** The API's own words, plus a line on what a 403 means for this caller. */
  describe(): string {
    const base = `${this.code}: ${this.message}`;
    if (this.status === 403)
      return `${base} — your key's role does not allow this action; ask an admin for a key with more access.`;
    if (this.status === 0) return `${base} — the gateway cannot be reached.`;
    return base;
  }
}

const KEY = 'flotilla.apiKey';

/** The API key lives in this tab's sessionStorage only: gone when the tab closes. */
export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn: (key: string) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const key = session.key();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = contentType;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'unreachable', (err as Error).message, null);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const e = (
      parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined
    )?.error;
    throw new ApiError(
      res.status,
      e?.code ?? `http_${res.status}`,
      e?.message ?? (typeof parsed === 'string' ? parsed : res.statusText),
      e?.details ?? null,
    );
  }
  return parsed as T;
}

/** A command's reply over REST: the resulting view (the log position is in Flotilla-Position). */
export type CommandReply<T> = T;

const atQuery = (at?: string) => (at ? `?at=${enc(at)}` : '');

export const api = {
  whoami: () => request<Identity>('GET', '/api/whoami'),
  health: () => request<SystemHealth>('GET', '/health'),
  clusters: (limit: number, offset: number) =>
    request<{ clusters: ClusterView[]; total: number }>(
      'GET',
      `/api/clusters?limit=${limit}&offset=${offset}`,
    ),
  /** `at`: as the cluster was at that log position (or time); absent: now. */
  cluster: (id: string, at?: string) => request<ClusterView>('GET', `/api/clusters/${enc(id)}${atQuery(at)}`),
  agents: (id: string, at?: string) =>
    request<{ agents: AgentView[] }>('GET', `/api/clusters/${enc(id)}/agents${atQuery(at)}`),
  hierarchy: (id: string, at?: string) =>
    request<{ cluster_id: string; root: HierarchyNode | null }>(
      'GET',
      `/api/clusters/${enc(id)}/hierarchy${atQuery(at)}`,
    ),
  /** The cluster's latest 200 events, oldest first (the log is read oldest first: count, then page). */
  events: async (id: string, q = '') => {
    const { total } = await request<{ total: number }>('GET', `/api/clusters/${enc(id)}/events?limit=1${q}`);
    return request<{ events: EventView[]; total: number }>(
      'GET',
      `/api/clusters/${enc(id)}/events?limit=200&offset=${Math.max(0, total - 200)}${q}`,
    );
  },
  manifest: (id: string) => request<string>('GET', `/api/clusters/${enc(id)}/manifest`),
  metrics: (id: string, since: string) =>
    request<RouteResponse<typeof metricsRoutes.clusterMetrics>>(
      'GET',
      `/api/clusters/${enc(id)}/metrics?since=${enc(since)}&limit=2000`,
    ),
  clusterHealth: (id: string) =>
    request<{
      score: number;
      status: string;
      recommendations: { code: string; message: string }[];
    }>('GET', `/api/clusters/${enc(id)}/health`),
  blueprints: () => request<{ blueprints: BlueprintView[] }>('GET', '/api/blueprints?limit=1000'),
  registerBlueprint: (yaml: string) =>
    request<CommandReply<BlueprintView>>(
      'POST',
      '/api/blueprints?wait=true',
      yaml,
      'application/yaml',
    ),
  createCluster: (body: Record<string, unknown>) =>
    request<CommandReply<ClusterView>>('POST', '/api/clusters?wait=true', body),
  scale: (id: string, target: number) =>
    request<CommandReply<ClusterView>>('POST', `/api/clusters/${enc(id)}/scale?wait=true`, {
      target_workers: target,
    }),
  update: (id: string, body: Record<string, unknown>) =>
    request<CommandReply<ClusterView>>('PUT', `/api/clusters/${enc(id)}?wait=true`, body),
  hibernate: (id: string) =>
    request<CommandReply<ClusterView>>('POST', `/api/clusters/${enc(id)}/hibernate?wait=true`, {}),
  reactivate: (id: string) =>
    request<CommandReply<ClusterView>>('POST', `/api/clusters/${enc(id)}/reactivate?wait=true`, {}),
  rollout: (id: string, verb: 'pause' | 'resume' | 'undo') =>
    request<CommandReply<ClusterView>>('POST', `/api/clusters/${enc(id)}/rollout/${verb}?wait=true`, {}),
  decommission: (id: string) =>
    request<CommandReply<ClusterView>>('DELETE', `/api/clusters/${enc(id)}?wait=true`, {}),
  submitTask: (clusterId: string, body: Record<string, unknown>) =>
    request<TaskView>('POST', `/api/clusters/${enc(clusterId)}/tasks`, body),
  task: (id: string) => request<TaskView>('GET', `/api/tasks/${enc(id)}`),
  deadLetters: (clusterId: string) =>
    request<{ cluster_id: string; total: number; dead_letters: DeadLetter[] }>(
      'GET',
      `/api/clusters/${enc(clusterId)}/dead-letters?limit=100`,
    ),
  nodes: () => request<{ nodes: NodeView[] }>('GET', '/api/cluster/nodes?limit=1000'),
  assignments: () =>
    request<{ assignments: Assignment[] }>('GET', '/api/cluster/assignments?limit=10000'),
  drain: (id: string) => request<unknown>('POST', `/api/cluster/nodes/${enc(id)}/drain`, {}),
  cordon: (id: string) => request<unknown>('POST', `/api/cluster/nodes/${enc(id)}/cordon`, {}),
  uncordon: (id: string) => request<unknown>('POST', `/api/cluster/nodes/${enc(id)}/uncordon`),
  stats: () =>
    request<{
      strategy: string;
      capacity: {
        cpu: { total: number; used: number };
        memory_mb: { total: number; used: number };
        agents: { total: number; used: number };
      };
    }>('GET', '/api/cluster/stats'),
  setStrategy: (strategy: string) => request<unknown>('POST', '/api/cluster/balance', { strategy }),
  audit: (q: string) => request<{ events: EventView[]; total: number }>('GET', `/api/audit?${q}`),
};

function enc(s: string): string {
  return encodeURIComponent(s);
}
