import {
  ANY,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  type AppendExpectedRevision,
  type CurrentRevision as EsdbCurrentRevision,
  type ReadPosition,
  type RecordedEvent,
} from '@eventstore/db-client';
import { InternalError } from '@flotilla/domain';
import type { EventMetadata, ExpectedRevision, StoredEvent } from '../event-store.port.js';
import type { CurrentRevision } from '../expected-revision.js';

export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'exists':
      return STREAM_EXISTS;
    default:
      return expected;
  }
}

export function fromEsdbCurrentRevision(current: EsdbCurrentRevision): CurrentRevision {
  return typeof current === 'bigint' ? current : null;
}

/** `$`-prefixed streams and event types are EventStoreDB's own (stats, settings, projections, links). */
export function isSystemEvent(streamId: string, type: string): boolean {
  return streamId.startsWith('$') || type.startsWith('$');
}

/**
 * Where a read of `$all` starts for an exclusive checkpoint. Reads from a position include the
 * event at it, so callers also drop events at or before the checkpoint. The position of an event
 * is its commit position; for events appended through gRPC each event commits on its own, so
 * commit and prepare positions are equal and the pair is rebuilt from one number.
 */
export function readPositionAfter(after: bigint): ReadPosition {
  return after === 0n ? START : { commit: after, prepare: after };
}

/** The adapter only writes JSON events; anything else in the log is not one of ours. */
export function toStoredEvent(recorded: RecordedEvent, position: bigint): StoredEvent {
  if (
    !recorded.isJson ||
    typeof recorded.data !== 'object' ||
    recorded.data === null ||
    recorded.data instanceof Uint8Array
  ) {
    throw new InternalError(`event ${recorded.id} in '${recorded.streamId}' is not a JSON object`, {
      eventId: recorded.id,
      streamId: recorded.streamId,
    });
  }
  return {
    id: recorded.id,
    type: recorded.type,
    streamId: recorded.streamId,
    revision: recorded.revision,
    position,
    occurredAt: recorded.created,
    data: recorded.data as Record<string, unknown>,
    metadata: (recorded.metadata ?? {}) as EventMetadata,
  };
}

/**
 * An event's position as the port reports it: its commit position. Servers before 22.6 omit
 * positions on stream reads; such events report -1n (reads of `$all` always carry one).
 */
export function positionOf(recorded: RecordedEvent): bigint {
  return recorded.position?.commit ?? -1n;
}
