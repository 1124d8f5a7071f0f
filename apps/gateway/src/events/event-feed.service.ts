import { setTimeout as delay } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { accessRoutes, type RequestIdentity } from '@flotilla/contracts';
import { redactRuntimeSecrets, UnavailableError } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { EVENTS_STREAM, EVENTS_SUBJECT, POSITION_HEADER, sequenceAfterPosition, type EventMessage } from '@flotilla/projections';

export interface EventFilter {
  readonly clusterId?: string | undefined;
  readonly nodeId?: string | undefined;
  readonly aggregate?: 'cluster' | 'node' | 'blueprint' | undefined;
  readonly types?: readonly string[] | undefined;
  /** Start after this log position (replay); otherwise only new events. */
  readonly afterPosition?: bigint | undefined;
  /** Only events of this tenant (undefined: every tenant). */
  readonly tenantId?: string | undefined;
}

const HISTORY_POLL_MS = 100;
/** Live events a one-tenant watcher may have waiting while it replays history or falls behind. */
const MAX_BUFFERED = 10_000;
/** How long a replay waits for the event read model to reach the live feed. */
const HISTORY_TIMEOUT_MS = 15_000;
const PAGE_SIZE = 500;

/**
 * Live (and replayed) events for SSE and gRPC watchers.
 *
 * A watcher that spans every tenant reads FLOTILLA_EVENTS (an ordered JetStream consumer, narrowed
 * by subject where the filter allows, from a log position). A watcher of one tenant never reads
 * other tenants' events: it follows the tenant's live subject `flotilla.tenants.<tenant>.events.>`
 * (the relay's per-tenant copy, published once stored) and replays history from the event read
 * model through the orchestrator, filtered by tenant in the query (and row-level security).
 *
 * Replay without a gap: subscribe to the live subject first, then note the position of the last
 * event in FLOTILLA_EVENTS (`until`). Every event after `until` is stored in the stream after the
 * subscription began, and the relay publishes the live copy only after that, so the subscription
 * sees it; every event up to `until` is in the event log, so the read model has it once its
 * checkpoint passes `until`. History (after, until] then the live events above `until`, in
 * position order, duplicates (a relay re-feeding NATS) dropped by position.
 */
@Injectable()
export class EventFeed {
  constructor(private readonly messaging: Messaging) {}

  subjectFor(filter: EventFilter): string {
    if (filter.clusterId) return this.messaging.ns.subject(`${EVENTS_SUBJECT}.cluster.${filter.clusterId}.>`);
    if (filter.nodeId) return this.messaging.ns.subject(`${EVENTS_SUBJECT}.node.${filter.nodeId}.>`);
    if (filter.aggregate) return this.messaging.ns.subject(`${EVENTS_SUBJECT}.${filter.aggregate}.>`);
    return this.messaging.ns.subject(`${EVENTS_SUBJECT}.>`);
  }

  /** The live per-tenant subject, narrowed like `subjectFor`. */
  tenantSubjectFor(filter: EventFilter, tenantId: string): string {
    const base = `flotilla.tenants.${tenantId}.events`;
    if (filter.clusterId) return this.messaging.ns.subject(`${base}.cluster.${filter.clusterId}.>`);
    if (filter.nodeId) return this.messaging.ns.subject(`${base}.node.${filter.nodeId}.>`);
    if (filter.aggregate) return this.messaging.ns.subject(`${base}.${filter.aggregate}.>`);
    return this.messaging.ns.subject(`${base}.>`);
  }

  /** `caller` is who watches: the history of a one-tenant watcher is read as that caller. */
  watch(filter: EventFilter, signal: AbortSignal, caller?: RequestIdentity): AsyncGenerator<EventMessage> {
    if (filter.tenantId !== undefined && caller) return this.watchTenant(filter, filter.tenantId, caller, signal);
    return this.watchAll(filter, signal);
  }

  private async *watchAll(filter: EventFilter, signal: AbortSignal): AsyncGenerator<EventMessage> {
    const js = this.messaging.js();
    const start =
      filter.afterPosition !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: await sequenceAfterPosition(this.messaging, filter.afterPosition) }
        : { deliver_policy: DeliverPolicy.New };
    const consumer = await js.consumers.get(this.messaging.ns.stream(EVENTS_STREAM), { filter_subjects: this.subjectFor(filter), ...start });
    const messages: ConsumerMessages = await consumer.consume();
    const stop = () => void messages.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of messages) {
        const event = m.json<EventMessage>();
        if (filter.types?.length && !filter.types.includes(event.type)) continue;
        if (filter.tenantId && event.metadata['tenantId'] !== filter.tenantId) continue;
        if (filter.afterPosition !== undefined && BigInt(event.position) <= filter.afterPosition) continue;
        // SSE and gRPC watchers see runtimes without header values or URL credentials.
        yield { ...event, data: redactRuntimeSecrets(event.data) };
      }
    } finally {
      signal.removeEventListener('abort', stop);
      await messages.close();
    }
  }

  private async *watchTenant(filter: EventFilter, tenantId: string, caller: RequestIdentity, signal: AbortSignal): AsyncGenerator<EventMessage> {
    const sub = this.messaging.nc.subscribe(this.tenantSubjectFor(filter, tenantId));
    const buffered: EventMessage[] = [];
    let overflow = false;
    let wake: (() => void) | undefined;
    const pump = (async () => {
      for await (const m of sub) {
        if (buffered.length >= MAX_BUFFERED) overflow = true;
        else buffered.push(m.json<EventMessage>());
        wake?.();
      }
      wake?.();
    })();
    const stop = () => {
      sub.unsubscribe();
      wake?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    const wanted = (e: EventMessage) => (!filter.types?.length || filter.types.includes(e.type)) && e.metadata['tenantId'] === tenantId;
    try {
      let last = -1n;
      if (filter.afterPosition !== undefined) {
        last = filter.afterPosition;
        // The server has the subscription before it answers what the stream holds.
        await this.messaging.nc.flush();
        const until = await this.lastStoredPosition();
        for await (const e of this.history(filter, caller, filter.afterPosition, until, signal, () => overflow)) {
          if (signal.aborted) return;
          last = BigInt(e.position);
          yield { ...e, data: redactRuntimeSecrets(e.data) };
        }
        // Everything up to `until` came from the history (or did not match the filter).
        if (until > last) last = until;
      }
      for (;;) {
        while (buffered.length > 0) {
          const e = buffered.shift()!;
          const position = BigInt(e.position);
          if (position <= last || !wanted(e)) continue;
          last = position;
          yield { ...e, data: redactRuntimeSecrets(e.data) };
        }
        if (overflow) throw new UnavailableError('this watcher fell too far behind the live events; reconnect with the last event id received (Last-Event-ID / from_position)', { reason: 'watcher_overflow' });
        if (signal.aborted || sub.isClosed()) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      sub.unsubscribe();
      await pump;
    }
  }

  /**
   * The tenant's history in (after, until], a page at a time from the orchestrator (tenant-scoped
   * by the caller's identity). Waits, up to historyTimeoutMs, for the read model to reach `until`.
   */
  private async *history(filter: EventFilter, caller: RequestIdentity, after: bigint, until: bigint, signal: AbortSignal, overflowed: () => boolean): AsyncGenerator<EventMessage> {
    const deadline = Date.now() + HISTORY_TIMEOUT_MS;
    let from = after;
    while (from < until && !signal.aborted) {
      const page = await this.messaging.request(
        accessRoutes.eventHistory,
        {
          after: from.toString(),
          until: until.toString(),
          ...(filter.clusterId ? { cluster_id: filter.clusterId } : {}),
          ...(filter.nodeId ? { node_id: filter.nodeId } : {}),
          ...(filter.aggregate ? { aggregate: filter.aggregate } : {}),
          ...(filter.types?.length ? { types: [...filter.types] } : {}),
          limit: PAGE_SIZE,
        },
        { identity: caller },
      );
      for (const e of page.events) {
        yield e as EventMessage;
        from = BigInt(e.position);
      }
      if (page.events.length >= PAGE_SIZE) continue;
      const checkpoint = BigInt(page.checkpoint);
      if (checkpoint >= until) return;
      // The read model is behind the live feed: what it has is out; wait for the rest.
      if (checkpoint > from) from = checkpoint;
      if (Date.now() > deadline || overflowed()) {
        throw new UnavailableError(`the event history has reached position ${checkpoint}, not yet ${until}; reconnect with the last event id received`, {
          reason: 'history_behind',
          checkpoint: checkpoint.toString(),
          until: until.toString(),
          retry_after_s: 2,
        });
      }
      await delay(HISTORY_POLL_MS);
    }
  }

  /** The log position of the last event in FLOTILLA_EVENTS (0 when none). */
  private async lastStoredPosition(): Promise<bigint> {
    const jsm = await this.messaging.jsm();
    const stream = this.messaging.ns.stream(EVENTS_STREAM);
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info || info.state.messages === 0) return 0n;
    const msg = await jsm.streams.getMessage(stream, { seq: info.state.last_seq }).catch(() => null);
    const header = msg?.header.get(POSITION_HEADER);
    return header ? BigInt(header) : 0n;
  }
}
