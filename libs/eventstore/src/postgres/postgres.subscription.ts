import type { EventSubscription, StoredEvent, SubscribeToAllOptions } from '../event-store.port.js';
import { toStoreError } from './postgres.errors.js';
import type { PgNotifier } from './postgres.notifier.js';

/** What a subscription needs from its store. */
export interface SubscriptionSource {
  readonly notifier: PgNotifier;
  readonly pollIntervalMs: number;
  /** Events with `position > after` below the visibility horizon, in position order, upcast. */
  readPage(after: bigint, limit: number): Promise<StoredEvent[]>;
  /** Whether committed events past `after` exist that the horizon still hides (an older writer is in flight). */
  hasHiddenEvents(after: bigint): Promise<boolean>;
  forget(subscription: PostgresSubscription): void;
}

export const DEFAULT_BATCH_SIZE = 500;
/** First retry delay while committed events wait behind an in-flight transaction. */
const FIRST_HIDDEN_RETRY_MS = 2;

/**
 * Catch-up then live, with one loop: read a page after the checkpoint; if it is empty, wait for
 * a notification (or the fallback poll) and read again. Catch-up and live are the same query, so
 * the hand-over has no seam where an event could be lost or delivered twice, and resuming from any
 * checkpoint is just starting the loop there. Pages are read only when the consumer asks for the
 * next event past the current page, which is the back-pressure.
 */
export class PostgresSubscription implements EventSubscription {
  private position: bigint;
  private readonly abort = new AbortController();
  private iterator: AsyncGenerator<StoredEvent, void, undefined> | undefined;
  private readonly batchSize: number;
  private readonly filter: ((event: StoredEvent) => boolean) | undefined;
  private readonly userSignal: AbortSignal | undefined;
  private readonly onUserAbort = (): void => void this.close();

  constructor(
    private readonly source: SubscriptionSource,
    opts: SubscribeToAllOptions,
  ) {
    this.position = opts.after ?? 0n;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.filter = opts.filter;
    this.userSignal = opts.signal;
    if (this.userSignal?.aborted) this.abort.abort();
    else this.userSignal?.addEventListener('abort', this.onUserAbort, { once: true });
  }

  get checkpoint(): bigint {
    return this.position;
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    this.iterator ??= this.run();
    return this.iterator;
  }

  async close(): Promise<void> {
    if (!this.abort.signal.aborted) this.abort.abort();
    this.userSignal?.removeEventListener('abort', this.onUserAbort);
    this.source.forget(this);
    // A generator parked at `yield` (the consumer stopped pulling) only finishes when told to.
    await this.iterator?.return(undefined).catch(() => undefined);
  }

  private async *run(): AsyncGenerator<StoredEvent, void, undefined> {
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
        const seen = notifier.generation;
        const page = await this.source.readPage(this.position, this.batchSize);
        if (page.length > 0) {
          hiddenRetryMs = 0;
          for (const event of page) {
            if (signal.aborted) return;
            this.position = event.position;
            if (!this.filter || this.filter(event)) yield event;
          }
          continue;
        }
        // Caught up with what is visible. If committed events are hidden behind an in-flight
        // transaction, its own commit normally notifies us; if it aborts (or is not ours) nothing
        // will, so retry soon with a growing delay instead of waiting for the full poll.
        let timeout = this.source.pollIntervalMs;
        if (await this.source.hasHiddenEvents(this.position)) {
          hiddenRetryMs = Math.min(
            hiddenRetryMs === 0 ? FIRST_HIDDEN_RETRY_MS : hiddenRetryMs * 2,
            timeout,
          );
          timeout = hiddenRetryMs;
        } else {
          hiddenRetryMs = 0;
        }
        await notifier.waitForChange(seen, timeout, signal);
      }
    } finally {
      this.source.forget(this);
    }
  }
}
