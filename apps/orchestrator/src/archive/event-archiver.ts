import { setTimeout as delay } from 'node:timers/promises';
import type { EventStore } from '@flotilla/eventstore';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';

/** Chunks one pass archives before it yields to the next pass (which starts at once when there is more). */
const CHUNKS_PER_PASS = 20;

export interface EventArchiverOptions {
  /** Events older than this move to the archive (ms; > 0). */
  readonly afterMs: number;
  /** Pause between passes that found nothing more to archive. */
  readonly intervalMs: number;
  readonly clock?: () => number;
}

/**
 * Retention: one replica (the `archiver` singleton) moves the events older than
 * EVENT_ARCHIVE_AFTER from the event store's live log into its archive, a bounded number of
 * chunks per pass. Nothing is lost: every read path of the store still serves archived events
 * (see libs/eventstore postgres.archive.ts), so time travel, subscriptions and rebuilds see the
 * whole log; what shrinks is the live table every append and read touches.
 */
export class EventArchiver {
  private readonly archived: Counter;
  private readonly clock: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly options: EventArchiverOptions,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.clock = options.clock ?? Date.now;
    this.archived =
      (registry.getSingleMetric('flotilla_eventstore_archived_events_total') as Counter | undefined) ??
      new promClient.Counter({
        name: 'flotilla_eventstore_archived_events_total',
        help: 'Events moved from the live log to the archive (retention, EVENT_ARCHIVE_AFTER).',
        registers: [registry],
      });
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const more = await this.pass();
      if (!more) await delay(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One pass; true when it stopped at its chunk budget (there may be more to archive). */
  async pass(): Promise<boolean> {
    const before = new Date(this.clock() - this.options.afterMs);
    const started = performance.now();
    const result = await this.store.archive({ before, maxChunks: CHUNKS_PER_PASS });
    if (result.events > 0) {
      this.archived.inc(result.events);
      this.logger.info(
        {
          events: result.events,
          chunks: result.chunks,
          archived_through: result.archivedThrough.toString(),
          before: before.toISOString(),
          raw_bytes: result.rawBytes,
          compressed_bytes: result.compressedBytes,
          ms: Math.round(performance.now() - started),
        },
        'events archived',
      );
    }
    return result.chunks >= CHUNKS_PER_PASS;
  }
}
