export { Namespace } from './namespace.js';
export {
  ACCESS_LEVELS,
  commandEnvelope,
  dryRunnable,
  isNodeToken,
  nodeOfSubject,
  route,
  routeSubject,
  SERVICES,
  type Access,
  type ReplyEnvelope,
  type Route,
  type RouteRequest,
  type RouteRequestParsed,
  type RouteResponse,
  type ServiceName,
} from './route.js';
export {
  dependencyCheck,
  pingReply,
  pingRoutes,
  type DependencyCheck,
  type PingReply,
} from './system.js';
export { actsForPlatform, Headers, nodeIdentity, PLATFORM_TENANT, spansAllTenants, SYSTEM_IDENTITY, type RequestIdentity } from './headers.js';
export { issuesFromZod, parseOrThrow } from './validation.js';
export {
  idOf,
  page,
  position,
  queryBool,
  resources,
  waitFlag,
  dryRunFlag,
  asOf,
  atFilter,
  moment,
  parseMoment,
  type AsOf,
  type Moment,
  type ResourcesDto,
} from './common.js';
export * from './orchestrator.js';
export * from './registry.js';
export { asyncApiDocument, asyncApiYaml, EVENT_MESSAGE_SCHEMA } from './asyncapi.js';
export * from './tasks.js';
export * from './metrics.js';
export * from './access.js';
export { COMPOSE_NODES, CONTROL_PLANE_SERVICES, deploymentNatsAuthorization, integratorUser, K8S_NODE_AGENT_MASTER_KEY, K8S_NODE_AGENT_SLOTS, K8S_NODE_AGENT_STATEFULSET, k8sNodeAgentNodes, kubernetesNatsAuthorization, LEASE_BUCKETS, natsAuthorizationConfig, natsInboxPrefix, natsPasswordVariable, nodeAgentPasswordVariable, nodeAgentUser, nodeAgentUserName, serviceUser, SERVICE_SUBJECTS, type NatsPassword, type NatsPermissions, type NatsUser } from './nats-permissions.js';
