import { InternalError } from '@flotilla/domain';
import type { StoredEvent, Upcasters } from './event-store.port.js';

/** More steps than any real version chain; reaching it means two upcasters undo each other. */
const MAX_UPCAST_STEPS = 64;

/**
 * Applies the upcaster registered for the event's type, again and again while it changes the
 * type or the schema version, so a v1 → v2 → v3 chain can be written as single steps.
 */
export function upcast(upcasters: Upcasters | undefined, event: StoredEvent): StoredEvent {
  if (!upcasters) return event;
  let current = event;
  for (let step = 0; step < MAX_UPCAST_STEPS; step++) {
    const upcaster = Object.hasOwn(upcasters, current.type) ? upcasters[current.type] : undefined;
    if (!upcaster) return current;
    const next = upcaster(current);
    if (
      next.type === current.type &&
      next.metadata.schemaVersion === current.metadata.schemaVersion
    )
      return next;
    current = next;
  }
  throw new InternalError(
    `upcasters for '${event.type}' did not settle after ${MAX_UPCAST_STEPS} steps`,
    {
      eventId: event.id,
      type: event.type,
    },
  );
}

export function upcastAll(upcasters: Upcasters | undefined, events: StoredEvent[]): StoredEvent[] {
  if (!upcasters || Object.keys(upcasters).length === 0) return events;
  return events.map((e) => upcast(upcasters, e));
}
