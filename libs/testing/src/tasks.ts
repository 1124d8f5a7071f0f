import type { TaskView } from '@flotilla/contracts';

/** A record before any attempt ended: no lineage yet (the API's view adds `lineage` and `usage`). */
export type QueuedTaskRecord = Omit<TaskView, 'lineage' | 'usage'>;

/**
 * A task's record as the intake queues it: `queued`, normal priority, no attempt yet (three at
 * most, 30 s each), tenant `acme`, submitted now, run by nobody yet. `fields` replaces any of it.
 */
export function queuedTaskRecord(
  id: string,
  clusterId: string,
  fields: Partial<QueuedTaskRecord> = {},
): QueuedTaskRecord {
  return {
    id,
    cluster_id: clusterId,
    routed_to: clusterId,
    tenant_id: 'acme',
    status: 'queued',
    priority: 'normal',
    capability: null,
    payload: { n: 1 },
    result: null,
    error: null,
    attempts: 0,
    max_attempts: 3,
    timeout_ms: 30_000,
    idempotency_key: null,
    source_cluster: null,
    agent_id: null,
    node_id: null,
    submitted_at: new Date().toISOString(),
    started_at: null,
    finished_at: null,
    ...fields,
  };
}
