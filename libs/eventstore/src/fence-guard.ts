import type { AppendFence, EventStore } from './event-store.port.js';

/**
 * For an adapter that cannot check a fence inside its append (EventStoreDB): the fence is
 * admitted just before the append instead (by `admit`, e.g. the PostgreSQL fence table). A
 * leader deposed between the two can still write once; the PostgreSQL adapter has no such window.
 */
export function withFenceGuard(store: EventStore, admit: (fence: AppendFence) => Promise<void>): EventStore {
  const guarded = Object.create(store) as EventStore;
  guarded.append = async (streamId, events, opts) => {
    if (!opts.fence) return store.append(streamId, events, opts);
    await admit(opts.fence);
    const { fence: _fence, ...rest } = opts;
    return store.append(streamId, events, rest);
  };
  return guarded;
}
