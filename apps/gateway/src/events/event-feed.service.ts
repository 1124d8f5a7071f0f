import { Injectable } from '@nestjs/common';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { redactRuntimeSecrets } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { EVENTS_STREAM, EVENTS_SUBJECT, sequenceAfterPosition, type EventMessage } from '@flotilla/projections';

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

/**
 * Live (and replayed) cluster events for SSE and gRPC watchers: an ordered JetStream consumer on
 * FLOTILLA_EVENTS, narrowed by subject where the filter allows, starting after a log position.
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

  async *watch(filter: EventFilter, signal: AbortSignal): AsyncGenerator<EventMessage> {
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
}
