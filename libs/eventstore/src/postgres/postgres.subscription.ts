import type { EventSubscription, StoredEvent, SubscribeToAllOptions } from '../event-store.port.js';
import { toStoreError } from './postgres.errors.js';
import type { PgNotifier } from './postgres.notifier.js';

/** One read of the global log after a position, with what the reader's snapshot knew. */
export interface Page {
  /** Visible events after the position, in order (at most the limit). */
  readonly events: StoredEvent[];
  /** The page holds `limit` events: there may be more right behind it. */
  readonly full: boolean;
  /**
   * The snapshot's visibility horizon: every event below it that will ever exist has committed
   * and was visible to this read (see position.ts). A page that is not full has seen everything
   * up to it.
   */
  readonly horizon: bigint;
  /** The last committed event (of the categories read), visible or not yet. */
  readonly head: bigint;
}

/** What a subscription needs from its store. */
export interface SubscriptionSource {
  readonly notifier: PgNotifier;
  readonly pollIntervalMs: number;
  /** Events with `position > after` below the visibility horizon, in position order, upcast. */
  readPage(after: bigint, limit: number, categories: readonly string[] | undefined): Promise<Page>;
  forget(subscription: PostgresSubscription): void;
}

export const DEFAULT_BATCH_SIZE = 500;
/** First retry delay while committed events wait behind an in-flight transaction. */
const FIRST_HIDDEN_RETRY_MS = 2;

/**
 * Catch-up then live, with one loop: read a page after the checkpoint; while pages come back
 * full, read on; once a page is not full the reader has seen everything below the snapshot's
 * horizon, so the checkpoint moves up to it and the loop waits for a notification (or the
 * fallback poll) before reading again. Catch-up and live are the same query, so the hand-over
 * has no seam where an event could be lost or delivered twice, and resuming from any checkpoint
 * is just starting the loop there. A page is read only when the consumer asks for the next one,
 * which is the back-pressure.
 */
export class PostgresSubscription implements EventSubscription {
  private position: bigint;
  private readonly abort = new AbortController();
  private generator: AsyncGenerator<readonly StoredEvent[], void, undefined> | undefined;
  private readonly batchSize: number;
  private readonly filter: ((event: StoredEvent) => boolean) | undefined;
  private readonly categories: readonly string[] | undefined;
  private readonly userSignal: AbortSignal | undefined;
  private readonly onUserAbort = (): void => void this.close();

  constructor(
    private readonly source: SubscriptionSource,
    opts: SubscribeToAllOptions,
  ) {
    this.position = opts.after ?? 0n;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.filter = opts.filter;
    this.categories = opts.categories?.length ? [...new Set(opts.categories)].sort() : undefined;
    this.userSignal = opts.signal;
    if (this.userSignal?.aborted) this.abort.abort();
    else this.userSignal?.addEventListener('abort', this.onUserAbort, { once: true });
  }

  get checkpoint(): bigint {
    return this.position;
  }

  pages(): AsyncIterable<readonly StoredEvent[]> {
    this.generator ??= this.run();
    const generator = this.generator;
    return { [Symbol.asyncIterator]: () => generator };
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    return this.events();
  }

  /** One event at a time; the checkpoint follows each event handed to the consumer. */
  private async *events(): AsyncGenerator<StoredEvent, void, undefined> {
    for await (const page of this.pages()) {
      for (const event of page) {
        if (event.position > this.position) this.position = event.position;
        yield event;
      }
    }
  }

  async close(): Promise<void> {
    if (!this.abort.signal.aborted) this.abort.abort();
    this.userSignal?.removeEventListener('abort', this.onUserAbort);
    this.source.forget(this);
    // A generator parked at `yield` (the consumer stopped pulling) only finishes when told to.
    await this.generator?.return(undefined).catch(() => undefined);
  }

  private async *run(): AsyncGenerator<readonly StoredEvent[], void, undefined> {
    const { notifier } = this.source;
    const signal = this.abort.signal;
    try {
      try {
        await notifier.ensureListening();
      } catch (err) {
        throw toStoreError(err, 'subscribeToAll');
      }
      let hiddenRetryMs = 0;
      while (!signal.aborted) {
        const seen = notifier.generation(this.categories);
        const page = await this.source.readPage(this.position, this.batchSize, this.categories);
        if (signal.aborted) return;
        if (page.events.length > 0) {
          const last = page.events[page.events.length - 1]!.position;
          const delivered = this.filter ? page.events.filter(this.filter) : page.events;
          if (delivered.length > 0) yield delivered;
          // The consumer asked for more: it is done with this page (skipped events included).
          if (last > this.position) this.position = last;
          if (signal.aborted) return;
        }
        if (page.full) {
          hiddenRetryMs = 0;
          continue;
        }
        // Caught up with everything below the horizon: nothing more can appear there, so the
        // checkpoint moves up to it (a subscription to a quiet category does not re-scan the
        // others' events on every poll).
        if (page.horizon - 1n > this.position) this.position = page.horizon - 1n;
        // Committed events hidden behind an in-flight transaction normally arrive with its own
        // commit's notification; if it aborts (or is not ours) nothing will, so retry soon with a
        // growing delay instead of waiting for the full poll.
        let timeout = this.source.pollIntervalMs;
        if (page.head > this.position) {
          hiddenRetryMs = Math.min(hiddenRetryMs === 0 ? FIRST_HIDDEN_RETRY_MS : hiddenRetryMs * 2, timeout);
          timeout = hiddenRetryMs;
        } else {
          hiddenRetryMs = 0;
        }
        await notifier.waitForChange(seen, timeout, signal, this.categories);
      }
    } finally {
      this.source.forget(this);
    }
  }
}
