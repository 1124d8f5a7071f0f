import type { Projection } from '../projection.js';
import { apiKeysProjection } from './api-keys.projection.js';
import { blueprintsProjection, blueprintVersionsProjection } from './blueprints.projection.js';
import { clusterAgentsProjection } from './cluster-agents.projection.js';
import { clusterEventsProjection } from './cluster-events.projection.js';
import { clustersProjection } from './clusters.projection.js';
import { nodesProjection, placementsProjection } from './nodes.projection.js';
import { tenantBudgetsProjection } from './tenant-budgets.projection.js';

export { apiKeysProjection } from './api-keys.projection.js';
export { blueprintsProjection, blueprintVersionsProjection } from './blueprints.projection.js';
export { clusterAgentsProjection } from './cluster-agents.projection.js';
export { clusterEventsProjection, SEVERITIES, severityOf, type Severity } from './cluster-events.projection.js';
export { clustersProjection } from './clusters.projection.js';
export { tenantBudgetsProjection } from './tenant-budgets.projection.js';
export { NODE_STATUS_EVENTS, nodeStatusAfter, nodesProjection, placementsProjection } from './nodes.projection.js';

/** Read models the orchestrator keeps. */
export const ORCHESTRATOR_PROJECTIONS: readonly Projection[] = [
  clustersProjection,
  clusterAgentsProjection,
  blueprintsProjection,
  blueprintVersionsProjection,
  clusterEventsProjection,
  apiKeysProjection,
  tenantBudgetsProjection,
];

/** Read models the registry keeps. */
export const REGISTRY_PROJECTIONS: readonly Projection[] = [nodesProjection, placementsProjection];

export const ALL_PROJECTIONS: readonly Projection[] = [...ORCHESTRATOR_PROJECTIONS, ...REGISTRY_PROJECTIONS];
