import { accessRoutes as a, metricsRoutes as m, orchestratorRoutes as o, registryRoutes as g, taskRoutes as t, type Route } from '@flotilla/contracts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface HttpInput {
  readonly params: Record<string, string>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  readonly contentType: string;
}

export interface RestRoute {
  readonly method: Method;
  /** Fastify path syntax (`/api/clusters/:id`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  /** The NATS route it forwards to; who may call it and the shape of its reply are the route's. */
  readonly route: Route;
  /** Status of a successful command that created something. */
  readonly created?: boolean;
  /** Success status when it is neither 200 nor 201 (202 for an accepted task). */
  readonly status?: number;
  /** Builds the NATS request from the HTTP request. */
  readonly toRequest: (input: HttpInput) => Record<string, unknown>;
  /** Non-JSON replies (the manifest is Markdown). */
  readonly render?: (reply: unknown) => { contentType: string; body: string };
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];
export const isYaml = (contentType: string) => YAML_TYPES.some((t) => contentType.startsWith(t));
export const YAML_CONTENT_TYPES = YAML_TYPES;

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const withId = (i: HttpInput) => ({ id: i.params['id'] });
const queryWithId = (i: HttpInput) => ({ ...i.query, ...withId(i) });
const bodyWithId = (i: HttpInput) => ({ ...obj(i.body), ...withId(i) });

/**
 * Every REST route of the gateway, in one table: path, the NATS route it forwards to, how the
 * request is built. Who may call it and the shape of its reply are the contract route's. The
 * OpenAPI document and the authorization matrix are read from this table, so a route cannot exist
 * outside it.
 */
export const REST_ROUTES: readonly RestRoute[] = [
  {
    method: 'POST',
    path: '/api/blueprints',
    operationId: 'registerBlueprint',
    summary: 'Register a blueprint (YAML or JSON body), or publish a new version of it',
    tag: 'blueprints',
    route: o.registerBlueprint,
    created: true,
    toRequest: (i) =>
      typeof i.body === 'string'
        ? { document: i.body, format: isYaml(i.contentType) ? 'yaml' : 'json' }
        : 'document' in obj(i.body)
          ? obj(i.body)
          : { document: obj(i.body) },
  },
  { method: 'GET', path: '/api/blueprints', operationId: 'listBlueprints', summary: 'List blueprints', tag: 'blueprints', route: o.listBlueprints, toRequest: (i) => i.query },
  { method: 'GET', path: '/api/blueprints/:id', operationId: 'getBlueprint', summary: 'One blueprint, with its versions', tag: 'blueprints', route: o.getBlueprint, toRequest: withId },
  { method: 'POST', path: '/api/blueprints/:id/deprecate', operationId: 'deprecateBlueprint', summary: 'Deprecate a blueprint', tag: 'blueprints', route: o.deprecateBlueprint, toRequest: bodyWithId },

  { method: 'POST', path: '/api/clusters', operationId: 'createCluster', summary: 'Create a cluster from a blueprint', tag: 'clusters', route: o.createCluster, created: true, toRequest: (i) => obj(i.body) },
  { method: 'GET', path: '/api/clusters', operationId: 'listClusters', summary: 'List clusters', tag: 'clusters', route: o.listClusters, toRequest: (i) => i.query },
  { method: 'GET', path: '/api/clusters/:id', operationId: 'getCluster', summary: 'Cluster details', tag: 'clusters', route: o.getCluster, toRequest: queryWithId },
  { method: 'PUT', path: '/api/clusters/:id', operationId: 'updateCluster', summary: 'Update name, description, min/max workers, policy', tag: 'clusters', route: o.updateCluster, toRequest: bodyWithId },
  { method: 'DELETE', path: '/api/clusters/:id', operationId: 'decommissionCluster', summary: 'Decommission a cluster', tag: 'clusters', route: o.decommissionCluster, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/scale', operationId: 'scaleCluster', summary: 'Scale the worker pool to target_workers', tag: 'clusters', route: o.scaleCluster, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/hibernate', operationId: 'hibernateCluster', summary: 'Hibernate (0 workers)', tag: 'clusters', route: o.hibernateCluster, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/reactivate', operationId: 'reactivateCluster', summary: 'Reactivate a hibernated cluster', tag: 'clusters', route: o.reactivateCluster, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/upgrade', operationId: 'upgradeCluster', summary: 'Roll the agents to another blueprint version in waves {blueprint_version, max_surge, max_unavailable, pause_after}', tag: 'clusters', route: o.upgradeCluster, toRequest: bodyWithId },
  { method: 'GET', path: '/api/clusters/:id/rollout', operationId: 'getRollout', summary: "The cluster's last rollout and its agents per version", tag: 'clusters', route: o.getRollout, toRequest: withId },
  { method: 'POST', path: '/api/clusters/:id/rollout/pause', operationId: 'pauseRollout', summary: 'Pause the rollout (no further wave starts)', tag: 'clusters', route: o.pauseRollout, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/rollout/resume', operationId: 'resumeRollout', summary: 'Resume a paused rollout', tag: 'clusters', route: o.resumeRollout, toRequest: bodyWithId },
  { method: 'POST', path: '/api/clusters/:id/rollout/undo', operationId: 'undoRollout', summary: 'Roll back to the version the last rollout started from', tag: 'clusters', route: o.undoRollout, toRequest: bodyWithId },
  { method: 'GET', path: '/api/clusters/:id/agents', operationId: 'listClusterAgents', summary: "A cluster's agents", tag: 'clusters', route: o.clusterAgents, toRequest: queryWithId },
  { method: 'GET', path: '/api/clusters/:id/hierarchy', operationId: 'getClusterHierarchy', summary: 'Supervisor → leads → specialists → workers', tag: 'clusters', route: o.clusterHierarchy, toRequest: queryWithId },
  { method: 'POST', path: '/api/clusters/:id/simulate', operationId: 'simulateScaling', summary: "Replay a candidate scaling policy over the cluster's recorded load", tag: 'clusters', route: o.simulateCluster, toRequest: bodyWithId },
  { method: 'GET', path: '/api/clusters/:id/diff', operationId: 'diffCluster', summary: 'What changed between two moments (?from=&to=, times or log positions)', tag: 'clusters', route: o.clusterDiff, toRequest: queryWithId },
  { method: 'GET', path: '/api/clusters/:id/events', operationId: 'listClusterEvents', summary: "A cluster's events (?severity=&limit=&since=)", tag: 'clusters', route: o.clusterEvents, toRequest: queryWithId },
  {
    method: 'GET',
    path: '/api/clusters/:id/manifest',
    operationId: 'getClusterManifest',
    summary: "The cluster's README and skills sheet (Markdown)",
    tag: 'clusters',
    route: o.clusterManifest,
    toRequest: withId,
    render: (reply) => ({ contentType: 'text/markdown; charset=utf-8', body: (reply as { markdown: string }).markdown }),
  },

  { method: 'GET', path: '/api/clusters/:id/metrics', operationId: 'getClusterMetrics', summary: "A cluster's metrics (?since=)", tag: 'clusters', route: m.clusterMetrics, toRequest: queryWithId },
  { method: 'GET', path: '/api/clusters/:id/health', operationId: 'getClusterHealth', summary: "A cluster's health score and recommendations", tag: 'clusters', route: m.clusterHealth, toRequest: queryWithId },
  {
    method: 'POST',
    path: '/api/clusters/:id/tasks',
    operationId: 'submitTask',
    summary: 'Submit a task (202 with the task id)',
    tag: 'tasks',
    route: t.submit,
    status: 202,
    toRequest: (i) => ({ ...obj(i.body), cluster_id: i.params['id'] }),
  },
  { method: 'GET', path: '/api/clusters/:id/tasks', operationId: 'listClusterTasks', summary: 'Tasks the cluster ran, with their attempts, tokens and cost (?blueprint_version=&since=&limit=)', tag: 'tasks', route: m.clusterTasks, toRequest: queryWithId },
  { method: 'GET', path: '/api/clusters/:id/cost', operationId: 'getClusterCost', summary: 'What the cluster cost in a UTC day or month (?period=day|month&at=)', tag: 'clusters', route: m.clusterCost, toRequest: queryWithId },
  { method: 'GET', path: '/api/clusters/:id/versions', operationId: 'getClusterVersions', summary: "The cluster's task metrics per blueprint version (?since=)", tag: 'clusters', route: m.clusterVersions, toRequest: queryWithId },
  { method: 'GET', path: '/api/cost', operationId: 'getTenantCost', summary: "What the caller's tenant's clusters cost in a UTC day or month (?period=&at=; the platform adds ?tenant_id=)", tag: 'clusters', route: m.tenantCost, toRequest: (i) => i.query },
  { method: 'GET', path: '/api/tenants/:id/budgets', operationId: 'getTenantBudgets', summary: "A tenant's budgets and their last crossings", tag: 'clusters', route: o.getTenantBudgets, toRequest: withId },
  { method: 'PUT', path: '/api/tenants/:id/budgets', operationId: 'setTenantBudgets', summary: "Set a tenant's budgets {budgets: [{amount, currency, period, action}]} (its admin, or the platform)", tag: 'clusters', route: o.setTenantBudgets, toRequest: bodyWithId },
  { method: 'GET', path: '/api/clusters/:id/dead-letters', operationId: 'listDeadLetters', summary: "A cluster's dead-lettered tasks (?limit=)", tag: 'tasks', route: t.deadLetters, toRequest: queryWithId },
  { method: 'GET', path: '/api/tasks/:id', operationId: 'getTask', summary: 'A task, with its state and result', tag: 'tasks', route: t.get, toRequest: withId },

  { method: 'GET', path: '/api/cluster/nodes', operationId: 'listNodes', summary: 'List nodes', tag: 'nodes', route: g.listNodes, toRequest: (i) => i.query },
  { method: 'POST', path: '/api/cluster/nodes', operationId: 'registerNode', summary: 'Register a node', tag: 'nodes', route: g.registerNode, created: true, toRequest: (i) => obj(i.body) },
  { method: 'GET', path: '/api/cluster/nodes/:id', operationId: 'getNode', summary: 'One node', tag: 'nodes', route: g.getNode, toRequest: queryWithId },
  { method: 'POST', path: '/api/cluster/nodes/:id', operationId: 'nodeHeartbeat', summary: 'Heartbeat (HTTP-only nodes)', tag: 'nodes', route: g.heartbeat, toRequest: (i) => ({ sent_at: new Date().toISOString(), ...obj(i.body), node_id: i.params['id'] }) },
  { method: 'DELETE', path: '/api/cluster/nodes/:id', operationId: 'deregisterNode', summary: 'Unregister a node', tag: 'nodes', route: g.deregisterNode, toRequest: (i) => ({ ...i.query, ...withId(i) }) },
  { method: 'POST', path: '/api/cluster/nodes/:id/drain', operationId: 'drainNode', summary: 'Move every agent off the node, then mark it drained', tag: 'nodes', route: g.drainNode, toRequest: bodyWithId },
  { method: 'POST', path: '/api/cluster/nodes/:id/cordon', operationId: 'cordonNode', summary: 'Stop new placements on the node', tag: 'nodes', route: g.cordonNode, toRequest: bodyWithId },
  { method: 'POST', path: '/api/cluster/nodes/:id/uncordon', operationId: 'uncordonNode', summary: 'Allow placements again', tag: 'nodes', route: g.uncordonNode, toRequest: withId },
  { method: 'GET', path: '/api/cluster/assignments', operationId: 'listAssignments', summary: 'Where agents run', tag: 'nodes', route: g.assignments, toRequest: (i) => i.query },
  { method: 'GET', path: '/api/cluster/stats', operationId: 'clusterStats', summary: 'Nodes, agents, capacity and zones', tag: 'nodes', route: g.stats, toRequest: () => ({}) },
  { method: 'GET', path: '/api/cluster/leader', operationId: 'getLeadership', summary: "Each singleton role's leader and members", tag: 'control-plane', route: g.leadership, toRequest: () => ({}) },
  { method: 'POST', path: '/api/cluster/leader', operationId: 'handoverLeadership', summary: 'Hand a role over to a member', tag: 'control-plane', route: g.handover, toRequest: (i) => obj(i.body) },
  { method: 'POST', path: '/api/admin/keys', operationId: 'createApiKey', summary: 'Create an API key (its secret is shown once)', tag: 'admin', route: a.createKey, created: true, toRequest: (i) => obj(i.body) },
  { method: 'GET', path: '/api/admin/keys', operationId: 'listApiKeys', summary: 'List API keys', tag: 'admin', route: a.listKeys, toRequest: (i) => i.query },
  { method: 'DELETE', path: '/api/admin/keys/:id', operationId: 'revokeApiKey', summary: 'Revoke an API key', tag: 'admin', route: a.revokeKey, toRequest: (i) => ({ ...i.query, ...withId(i) }) },
  { method: 'GET', path: '/api/audit', operationId: 'listAudit', summary: 'The audit trail (?actor=&cluster=&since=)', tag: 'admin', route: a.audit, toRequest: (i) => i.query },
  { method: 'POST', path: '/api/cluster/balance', operationId: 'setPlacementStrategy', summary: 'Switch the default placement strategy', tag: 'control-plane', route: g.setStrategy, toRequest: (i) => obj(i.body) },
];
