import type { EntitySchema } from '@mikro-orm/core';
import type { StoredEvent } from '@flotilla/eventstore';

/**
 * A read model as a pure fold: for each event it handles, the key of the row it changes and the
 * row after it (`null` deletes). The projector loads the rows, applies `evolve` and writes the
 * rows and the checkpoint in one transaction; `evolve` never sees an event twice for a row,
 * because rows remember the log position of the last event applied to them.
 */
export interface Projection<Row extends { position: string } = { position: string }> {
  /** Also the checkpoint's name. */
  readonly name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly entity: EntitySchema<any, any>;
  readonly primaryKey: string;
  readonly handles: ReadonlySet<string>;
  keyOf(event: StoredEvent): string | null;
  evolve(row: Row | null, event: StoredEvent): Row | null;
  /** Every event makes a new row keyed by the event (the audit trail): rows are not loaded before applying, and big batches are written with COPY. */
  readonly appendOnly?: boolean;
}

export function defineProjection<Row extends { position: string }>(p: Projection<Row>): Projection {
  return p as unknown as Projection;
}

export const iso = (value: unknown): Date => new Date(String(value));

/** `cluster-abc` → { aggregate: 'cluster', id: 'abc' }. */
export function streamParts(streamId: string): { aggregate: string; id: string } {
  const dash = streamId.indexOf('-');
  return dash < 0 ? { aggregate: streamId, id: streamId } : { aggregate: streamId.slice(0, dash), id: streamId.slice(dash + 1) };
}

/** The event's time: `data.at` when the decider stamped one, else when it was stored. */
export function eventTime(event: StoredEvent): Date {
  const at = event.data['at'];
  return typeof at === 'string' ? new Date(at) : event.occurredAt;
}

/** Agents a cluster should have now, from its row: what its status, target and blueprint ask for. */
export function desiredAgentsOf(row: { status: string; fixedAgents: number; keepFixedAgents: boolean; targetWorkers: number }): number {
  switch (row.status) {
    case 'decommissioning':
    case 'decommissioned':
      return 0;
    case 'hibernating':
    case 'hibernated':
      return row.keepFixedAgents ? row.fixedAgents : 0;
    default:
      return row.fixedAgents + row.targetWorkers;
  }
}
