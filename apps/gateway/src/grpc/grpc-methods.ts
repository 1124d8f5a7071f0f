import { metricsRoutes as m, orchestratorRoutes as o, registryRoutes as g, taskRoutes as t, type Route } from '@flotilla/contracts';
import { fromStruct, fromValue, toStruct, toValue, type ProtoValue } from './struct.js';

type Obj = Record<string, unknown>;

export interface GrpcMethod {
  /** `<Service>.<Method>` as in flotilla.proto. */
  readonly name: string;
  /** The NATS route it maps onto; who may call it and the shape of its reply are the route's. */
  readonly route: Route;
  readonly toRequest: (req: Obj) => Obj;
  readonly toReply: (reply: unknown) => Obj;
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && v !== 0 ? v : undefined);
const defined = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const asOf = (a: unknown): Obj | undefined => (a ? { position: (a as Obj)['position'], occurred_at: (a as Obj)['occurred_at'] ?? '' } : undefined);
const rollout = (r: Obj | null | undefined): Obj | undefined =>
  r ? { ...r, pause_after: r['pause_after'] ?? 0, ended_at: r['ended_at'] ?? '', current_wave: r['current_wave'] ?? undefined } : undefined;
const cluster = (c: Obj): Obj => ({ ...c, as_of: asOf(c['as_of']), policy: toStruct(c['policy'] as Obj), degraded_reason: c['degraded_reason'] ?? '', backup_cluster: c['backup_cluster'] ?? '', rollout: rollout(c['rollout'] as Obj | null), ...(c['health_score'] === null ? { health_score: undefined } : {}) });
const agent = (a: Obj): Obj => ({ ...a, runtime: toStruct(a['runtime'] as Obj), node_id: a['node_id'] ?? '', reports_to: a['reports_to'] ?? '', reason: a['reason'] ?? '', blueprint_version: a['blueprint_version'] ?? '' });
const clusterCommand = (r: Obj) => defined({ id: r['id'], reason: str(r['reason']), wait: r['wait'], dry_run: r['dry_run'] });
const event = (e: Obj): Obj => ({ ...e, cluster_id: e['cluster_id'] ?? '', data: toStruct(e['data'] as Obj), metadata: toStruct(e['metadata'] as Obj) });
const node = (n: Obj): Obj => ({
  ...n,
  capacity: toStruct(n['capacity'] as Obj),
  used: toStruct(n['used'] as Obj),
  usage: n['usage'] ? toStruct(n['usage'] as Obj) : undefined,
  last_heartbeat_at: n['last_heartbeat_at'] ?? '',
  as_of: asOf(n['as_of']),
});
type Hierarchy = Obj & { children?: Hierarchy[] };
const hierarchy = (h: Hierarchy | null): Obj | undefined =>
  h ? { ...h, agent_id: h['agent_id'] ?? '', node_id: h['node_id'] ?? '', children: (h.children ?? []).map((c) => hierarchy(c)) } : undefined;
/** A placement dry run's events and plan, as the proto has them (PlannedEvent, PlacementPlan). */
type Plan = { strategy: string; placements: Obj[]; unplaced: Obj[] };
const planOf = (plan: Plan): Obj => ({ ...plan, placements: plan.placements.map((p) => ({ ...p, from_node: p['from_node'] ?? '' })) });
const plannedOf = (planned: Obj[] | undefined): Obj[] => (planned ?? []).map((e) => ({ ...e, data: toStruct(e['data'] as Obj) }));
const dryRunParts = (d: Obj): Obj => ({ planned: plannedOf(d['planned'] as Obj[]), plan: planOf(d['plan'] as Plan) });
const commandReply = (key: string, view: (v: Obj) => Obj) => (r: unknown) => {
  const c = r as { result: Obj; position: string | null; events: string[]; duplicate: boolean; read_models_behind?: boolean; dry_run?: boolean; planned?: Obj[]; plan?: Plan };
  const reply: Obj = { [key]: view(c.result), position: c.position ?? '', events: c.events, duplicate: c.duplicate, read_models_behind: c.read_models_behind === true };
  // Only the cluster commands have dry runs (ClusterReply.dry_run, .planned, and .plan when agents would be placed).
  if (c.dry_run) Object.assign(reply, { dry_run: true, planned: plannedOf(c.planned), ...(c.plan ? { plan: planOf(c.plan) } : {}) });
  return reply;
};
const id = (r: Obj) => ({ id: r['id'] });
const idAt = (r: Obj) => defined({ id: r['id'], at: str(r['at']) });
const orEmpty = (x: Obj, keys: readonly string[]): Obj => {
  const out: Obj = { ...x };
  for (const k of keys) out[k] = x[k] ?? '';
  return out;
};
const task = (x: Obj): Obj => {
  const out: Obj = { ...orEmpty(x, ['capability', 'error', 'idempotency_key', 'source_cluster', 'agent_id', 'node_id', 'started_at', 'finished_at']), payload: toValue(x['payload']), result: toValue(x['result']) };
  // Proto3 has no null: absent strings are empty, absent tokens are an unset message.
  out['lineage'] = ((x['lineage'] as Obj[] | undefined) ?? []).map((a) => {
    const { tokens, ...rest } = orEmpty(a, ['spec_hash', 'blueprint_version', 'model', 'currency', 'error']);
    return tokens ? { ...rest, tokens } : rest;
  });
  if (x['usage']) out['usage'] = orEmpty(x['usage'] as Obj, ['currency']);
  return out;
};
const same = (r: unknown) => r as Obj;

/** Every gRPC method, mapped onto the same NATS routes the REST API uses. */
export const GRPC_METHODS: readonly GrpcMethod[] = [
  { name: 'BlueprintService.RegisterBlueprint', route: o.registerBlueprint, toRequest: (r) => defined({ document: r['document'], format: str(r['format']), wait: r['wait'] }), toReply: commandReply('blueprint', (b) => b) },
  { name: 'BlueprintService.ListBlueprints', route: o.listBlueprints, toRequest: (r) => defined({ limit: num(r['limit']), offset: num(r['offset']) }), toReply: same },
  {
    name: 'BlueprintService.GetBlueprint',
    route: o.getBlueprint,
    toRequest: id,
    toReply: (r) => {
      const { description, tags, document, versions, ...blueprint } = r as Obj;
      return { blueprint, description, tags, document: toStruct(document as Obj), versions };
    },
  },
  { name: 'BlueprintService.DeprecateBlueprint', route: o.deprecateBlueprint, toRequest: (r) => defined({ id: r['id'], reason: str(r['reason']), wait: r['wait'] }), toReply: commandReply('blueprint', (b) => b) },

  {
    name: 'ClusterService.CreateCluster',
    route: o.createCluster,
    toRequest: (r) =>
      defined({
        cluster_id: str(r['cluster_id']),
        blueprint_id: r['blueprint_id'],
        blueprint_version: str(r['blueprint_version']),
        name: r['name'],
        description: str(r['description']),
        type: str(r['type']),
        target_workers: r['target_workers'],
        environment: str(r['environment']),
        wait: r['wait'],
        dry_run: r['dry_run'],
      }),
    toReply: commandReply('cluster', cluster),
  },
  {
    name: 'ClusterService.ListClusters',
    route: o.listClusters,
    toRequest: (r) => defined({ status: str(r['status']), type: str(r['type']), blueprint_id: str(r['blueprint_id']), limit: num(r['limit']), offset: num(r['offset']) }),
    toReply: (r) => ({ ...(r as Obj), clusters: ((r as Obj)['clusters'] as Obj[]).map(cluster) }),
  },
  { name: 'ClusterService.GetCluster', route: o.getCluster, toRequest: idAt, toReply: (r) => cluster(r as Obj) },
  {
    name: 'ClusterService.UpdateCluster',
    route: o.updateCluster,
    toRequest: (r) =>
      defined({ id: r['id'], name: r['name'], description: r['description'], min_workers: r['min_workers'], max_workers: r['max_workers'], policy: r['policy'] ? fromStruct(r['policy'] as never) : undefined, wait: r['wait'], dry_run: r['dry_run'] }),
    toReply: commandReply('cluster', cluster),
  },
  { name: 'ClusterService.ScaleCluster', route: o.scaleCluster, toRequest: (r) => defined({ id: r['id'], target_workers: r['target_workers'] ?? 0, reason: str(r['reason']), wait: r['wait'], dry_run: r['dry_run'] }), toReply: commandReply('cluster', cluster) },
  { name: 'ClusterService.HibernateCluster', route: o.hibernateCluster, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  { name: 'ClusterService.ReactivateCluster', route: o.reactivateCluster, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  {
    name: 'ClusterService.UpgradeCluster',
    route: o.upgradeCluster,
    toRequest: (r) =>
      defined({ id: r['id'], blueprint_version: r['blueprint_version'], max_surge: r['max_surge'] ?? undefined, max_unavailable: r['max_unavailable'] ?? undefined, pause_after: r['pause_after'] ?? undefined, reason: str(r['reason']), wait: r['wait'], dry_run: r['dry_run'] }),
    toReply: commandReply('cluster', cluster),
  },
  { name: 'ClusterService.GetRollout', route: o.getRollout, toRequest: (r) => ({ id: r['id'] }), toReply: (r) => ({ ...(r as Obj), rollout: rollout((r as Obj)['rollout'] as Obj | null) }) },
  { name: 'ClusterService.PauseRollout', route: o.pauseRollout, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  { name: 'ClusterService.ResumeRollout', route: o.resumeRollout, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  { name: 'ClusterService.UndoRollout', route: o.undoRollout, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  { name: 'ClusterService.DecommissionCluster', route: o.decommissionCluster, toRequest: clusterCommand, toReply: commandReply('cluster', cluster) },
  {
    name: 'ClusterService.ListAgents',
    route: o.clusterAgents,
    toRequest: (r) => defined({ id: r['id'], state: str(r['state']), include_stopped: r['include_stopped'], at: str(r['at']) }),
    toReply: (r) => ({ ...(r as Obj), agents: ((r as Obj)['agents'] as Obj[]).map(agent), as_of: asOf((r as Obj)['as_of']) }),
  },
  { name: 'ClusterService.GetHierarchy', route: o.clusterHierarchy, toRequest: idAt, toReply: (r) => ({ cluster_id: (r as Obj)['cluster_id'], root: hierarchy((r as Obj)['root'] as Hierarchy | null), as_of: asOf((r as Obj)['as_of']) }) },
  {
    name: 'ClusterService.SimulateScaling',
    route: o.simulateCluster,
    toRequest: (r) => defined({ id: r['id'], policy: r['policy'] ? fromStruct(r['policy'] as never) : undefined, from: str(r['from']), to: str(r['to']) }),
    toReply: (r) => {
      const d = r as Obj;
      return { ...d, diverged_at: d['diverged_at'] ?? '', policy: { recorded: toStruct((d['policy'] as Obj)['recorded'] as Obj), candidate: toStruct((d['policy'] as Obj)['candidate'] as Obj) } };
    },
  },
  {
    name: 'ClusterService.DiffCluster',
    route: o.clusterDiff,
    toRequest: (r) => defined({ id: r['id'], from: r['from'], to: str(r['to']) }),
    toReply: (r) => {
      const d = r as Obj;
      return { ...d, from: asOf(d['from']), to: asOf(d['to']), changes: (d['changes'] as Obj[]).map((c) => ({ ...c, from: toValue(c['from']), to: toValue(c['to']) })), agents: (d['agents'] as Obj[]).map((a) => ({ ...a, from_state: a['from_state'] ?? '', from_node: a['from_node'] ?? '', to_node: a['to_node'] ?? '' })) };
    },
  },
  {
    name: 'ClusterService.ListEvents',
    route: o.clusterEvents,
    toRequest: (r) => defined({ id: r['id'], severity: str(r['severity']), type: str(r['type']), since: str(r['since']), limit: num(r['limit']), offset: num(r['offset']) }),
    toReply: (r) => ({ ...(r as Obj), events: ((r as Obj)['events'] as Obj[]).map(event) }),
  },
  { name: 'ClusterService.GetManifest', route: o.clusterManifest, toRequest: id, toReply: same },
  { name: 'ClusterService.GetClusterMetrics', route: m.clusterMetrics, toRequest: (r) => defined({ id: r['id'], since: str(r['since']), limit: num(r['limit']) }), toReply: (r) => toStruct(r as Obj) as unknown as Obj },
  { name: 'ClusterService.GetClusterHealth', route: m.clusterHealth, toRequest: idAt, toReply: (r) => toStruct(r as Obj) as unknown as Obj },

  {
    name: 'TaskService.SubmitTask',
    route: t.submit,
    toRequest: (r) =>
      defined({
        cluster_id: r['cluster_id'],
        payload: r['payload'] ? fromValue(r['payload'] as ProtoValue) : null,
        priority: str(r['priority']),
        capability: str(r['capability']),
        idempotency_key: str(r['idempotency_key']),
        timeout_ms: r['timeout_ms'],
        max_attempts: r['max_attempts'],
        source_cluster: str(r['source_cluster']),
      }),
    toReply: (r) => task(r as Obj),
  },
  { name: 'TaskService.GetTask', route: t.get, toRequest: id, toReply: (r) => task(r as Obj) },

  {
    name: 'NodeService.RegisterNode',
    route: g.registerNode,
    toRequest: (r) =>
      defined({
        node_id: str(r['node_id']),
        hostname: r['hostname'],
        address: r['address'],
        region: str(r['region']),
        zone: str(r['zone']),
        labels: r['labels'],
        services: r['services'],
        capacity: { cpu: r['cpu'], memory_mb: r['memory_mb'], max_agents: r['max_agents'] },
        role: str(r['role']),
        priority: r['priority'],
      }),
    toReply: (r) => node(r as Obj),
  },
  {
    name: 'NodeService.ListNodes',
    route: g.listNodes,
    toRequest: (r) => defined({ status: str(r['status']), role: str(r['role']), zone: str(r['zone']), limit: num(r['limit']), offset: num(r['offset']), at: str(r['at']) }),
    toReply: (r) => ({ ...(r as Obj), nodes: ((r as Obj)['nodes'] as Obj[]).map(node), as_of: asOf((r as Obj)['as_of']) }),
  },
  { name: 'NodeService.GetNode', route: g.getNode, toRequest: idAt, toReply: (r) => node(r as Obj) },
  { name: 'NodeService.DeregisterNode', route: g.deregisterNode, toRequest: (r) => defined({ id: r['id'], force: r['force'] }), toReply: (r) => node(r as Obj) },
  { name: 'NodeService.DrainNode', route: g.drainNode, toRequest: (r) => defined({ id: r['id'], reason: str(r['reason']) }), toReply: (r) => node(r as Obj) },
  {
    name: 'NodeService.PreviewDrain',
    route: g.drainNode,
    toRequest: (r) => defined({ id: r['id'], reason: str(r['reason']), dry_run: true }),
    toReply: (r) => ({ node: node((r as Obj)['result'] as Obj), ...dryRunParts(r as Obj) }),
  },
  { name: 'NodeService.CordonNode', route: g.cordonNode, toRequest: (r) => defined({ id: r['id'], reason: str(r['reason']) }), toReply: (r) => node(r as Obj) },
  { name: 'NodeService.UncordonNode', route: g.uncordonNode, toRequest: id, toReply: (r) => node(r as Obj) },
  { name: 'NodeService.ListAssignments', route: g.assignments, toRequest: (r) => defined({ cluster_id: str(r['cluster_id']), node_id: str(r['node_id']), at: str(r['at']) }), toReply: (r) => ({ ...(r as Obj), as_of: asOf((r as Obj)['as_of']) }) },
  { name: 'NodeService.GetStats', route: g.stats, toRequest: () => ({}), toReply: (r) => toStruct(r as Obj) as unknown as Obj },
  { name: 'NodeService.SetStrategy', route: g.setStrategy, toRequest: (r) => ({ strategy: r['strategy'] }), toReply: (r) => ({ ...(r as Obj), position: (r as Obj)['position'] ?? '' }) },
  {
    name: 'NodeService.PreviewStrategy',
    route: g.setStrategy,
    toRequest: (r) => ({ strategy: r['strategy'], dry_run: true }),
    toReply: (r) => ({ strategy: ((r as Obj)['result'] as Obj)['strategy'], ...dryRunParts(r as Obj) }),
  },
  {
    name: 'NodeService.GetLeadership',
    route: g.leadership,
    toRequest: () => ({}),
    toReply: (r) => ({ roles: ((r as Obj)['roles'] as Obj[]).map((x) => ({ ...x, leader: x['leader'] ?? '', since: x['since'] ?? '', term: String(x['term'] ?? 0) })) }),
  },
  {
    name: 'NodeService.HandoverLeadership',
    route: g.handover,
    toRequest: (r) => ({ role: r['role'], member_id: r['member_id'] }),
    toReply: (r) => ({ roles: ((r as Obj)['roles'] as Obj[]).map((x) => ({ ...x, leader: x['leader'] ?? '', since: x['since'] ?? '', term: String(x['term'] ?? 0) })) }),
  },
];
