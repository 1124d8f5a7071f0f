import { setTimeout as delay } from 'node:timers/promises';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import { nodeAssignmentFeed } from '@flotilla/contracts';
import { isMissingJetStreamResource, type Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import type { LocalState } from '../node/local-state.js';
import {
  AssignmentBook,
  type AssignmentChange,
  type NodeEventMessage,
} from './assignment-state.js';

const NANOS_PER_MS = 1_000_000;
/**
 * Short: an assignment is acked right after a local file write, and a delivery that went astray
 * (a pull left over from a killed process) comes back within this long instead of 30 s.
 */
const ACK_WAIT_MS = 5000;
/** How long undelivered assignments may wait before the subscription is renewed. */
const STALL_MS = 3000;
/** How long a stream behind the local copy (being re-fed after a store loss) is waited for. */
const REFEED_WAIT_MS = 30_000;

export interface FeedListener {
  /** Called once, when the book has caught up with everything the log held at start. */
  caughtUp(book: AssignmentBook): void;
  /** Called for every event after that. */
  changed(book: AssignmentBook, change: AssignmentChange): void;
}

/**
 * Learns this node's assignments from the log, durably: one JetStream consumer per node on the
 * relay's stream, filtered to `flotilla.events.node.<nodeId>.>` (NATS 2.9: one filter subject
 * per consumer), with explicit acks. Each event is folded into the book and the book saved to
 * the local disk before the event is acked, so the local copy is never behind the consumer.
 *
 * On every start the consumer is created afresh from the local copy's sequence (or from the
 * start of the node's subjects when there is no local copy, or when the stream was reset under
 * it): a crashed predecessor's half-acked deliveries then cannot arrive late, and "caught up"
 * has an exact meaning (nothing pending on the new consumer).
 *
 * Nothing is started before the book has caught up. A node agent restarted after its node went
 * offline would otherwise start agents that were since re-placed elsewhere, report them
 * started, and pull them back from their new node; folding first, it starts exactly the agents
 * the log still assigns to it.
 */
export class AssignmentFeed {
  private book: AssignmentBook;

  constructor(
    private readonly messaging: Messaging,
    private readonly nodeId: string,
    private readonly local: LocalState,
    private readonly listener: FeedListener,
    private readonly logger: Logger,
  ) {
    this.book = new AssignmentBook(nodeId);
  }

  get streamName(): string {
    return this.messaging.ns.stream(nodeAssignmentFeed.stream);
  }

  get durableName(): string {
    return this.messaging.ns.stream(nodeAssignmentFeed.durable(this.nodeId));
  }

  get current(): AssignmentBook {
    return this.book;
  }

  async run(signal: AbortSignal): Promise<void> {
    let announced = false;
    while (!signal.aborted) {
      try {
        await this.follow(signal, () => {
          if (announced) return;
          announced = true;
          this.listener.caughtUp(this.book);
        });
      } catch (err) {
        if (signal.aborted) break;
        this.logger.warn({ err }, 'assignment feed interrupted; resuming from the local copy');
        await delay(1000);
      }
    }
  }

  private async follow(signal: AbortSignal, onCaughtUp: () => void): Promise<void> {
    const jsm = await this.messaging.jsm();
    const saved = await this.local.loadAssignments(this.nodeId);
    const lastSeq = await this.waitForStream(signal, saved?.lastSeq ?? 0);
    if (lastSeq === undefined) return;
    // A local copy from a stream that has since been reset (sequence went backwards) is worthless.
    this.book = saved && saved.lastSeq <= lastSeq ? saved : new AssignmentBook(this.nodeId);
    if (saved && saved !== this.book)
      this.logger.warn(
        { saved: saved.lastSeq, stream: lastSeq },
        'local assignments are ahead of the stream; replaying the node history',
      );
    await jsm.consumers.delete(this.streamName, this.durableName).catch((err: unknown) => {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound))
        throw err;
    });
    const from = this.book.lastSeq;
    const info = await jsm.consumers.add(this.streamName, {
      durable_name: this.durableName,
      filter_subject: this.messaging.subject(nodeAssignmentFeed.subject(this.nodeId)),
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_MS * NANOS_PER_MS,
      max_ack_pending: 256,
      ...(from > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    this.logger.info(
      { from_seq: from, pending: info.num_pending, agents: this.book.agents.size },
      'following this node’s assignments',
    );
    if (info.num_pending === 0) onCaughtUp();
    const consumer = await this.messaging.js().consumers.get(this.streamName, this.durableName);
    // Short pulls (renewed every 5 s): a pull the server lost, or one a killed process left
    // behind, is replaced within seconds instead of the default 30.
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 256, expires: 5000 });
    const onAbort = () => messages.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    // Watchdog, every second: caught up when the consumer holds nothing undelivered or unacked
    // (the per-message pending count alone is not enough: NATS 2.9 has been seen to report the
    // last message of a batch as not the last); and when messages wait while nothing reaches us
    // for a while, the pull was lost (seen after a kill -9 and a quick restart): start over.
    let lastProgress = Date.now();
    let caughtUp = info.num_pending === 0;
    let checking = false;
    const watchdog = setInterval(() => {
      const idle = Date.now() - lastProgress;
      if (checking || (caughtUp && idle < STALL_MS)) return;
      checking = true;
      void consumer
        .info()
        .then((i) => {
          if (i.num_pending === 0 && i.num_ack_pending === 0) {
            caughtUp = true;
            onCaughtUp();
          } else if (Date.now() - lastProgress >= STALL_MS) {
            this.logger.warn({ pending: i.num_pending, ack_pending: i.num_ack_pending }, 'assignment feed stalled; subscribing again');
            messages.stop();
          }
        })
        .catch((err: unknown) => {
          this.logger.warn({ err }, 'assignment feed: consumer info failed');
          // The consumer (or the whole stream) is gone: JetStream's store was lost or wiped and
          // the relay re-feeds the stream from the event store. The pull would wait for the old
          // consumer for good: start over (create the consumer again, once the stream is back).
          if (isMissingJetStreamResource(err)) messages.stop();
        })
        .finally(() => (checking = false));
    }, 1000);
    try {
      for await (const m of messages) {
        lastProgress = Date.now();
        const event = m.json<NodeEventMessage>();
        const change = this.book.apply(m.seq, event);
        if (change.kind !== 'none' || event.type === 'NodeDeregistered')
          await this.local.saveAssignments(this.book.snapshot());
        m.ack();
        if (m.info.pending === 0) {
          caughtUp = true;
          onCaughtUp();
        }
        this.listener.changed(this.book, change);
      }
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The stream's last sequence, once the stream exists (the relay creates it); undefined when
   * aborted. A stream behind the local copy (`localSeq`) is given REFEED_WAIT_MS to catch up
   * first: after JetStream lost its store the relay re-feeds the stream from the event store, in
   * log order, so the same events come back under the same sequences, and the local copy is
   * valid again once the stream has passed it (no replay, no agent stopped and started again).
   */
  private async waitForStream(signal: AbortSignal, localSeq: number): Promise<number | undefined> {
    const jsm = await this.messaging.jsm();
    let logged = false;
    const refeedUntil = Date.now() + REFEED_WAIT_MS;
    while (!signal.aborted) {
      try {
        const info = await jsm.streams.info(this.streamName);
        if (info.state.last_seq >= localSeq || Date.now() >= refeedUntil) return info.state.last_seq;
        if (!logged) this.logger.info({ stream: info.state.last_seq, local: localSeq }, 'the event stream is behind the local assignments; waiting for the relay to re-feed it');
        logged = true;
        await delay(500);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound))
          throw err;
        if (!logged)
          this.logger.info(
            { stream: this.streamName },
            'waiting for the event stream (the relay creates it)',
          );
        logged = true;
        await delay(500);
      }
    }
    return undefined;
  }
}
