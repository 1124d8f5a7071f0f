import { headers as natsHeaders } from '@nats-io/transport-node';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { encodeJson, ensureStream, type Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import type pg from 'pg';
import { readCheckpoint } from './checkpoints.js';
import { streamParts } from './projection.js';

export const EVENTS_STREAM = 'FLOTILLA_EVENTS';
export const EVENTS_SUBJECT = 'flotilla.events';
export const POSITION_HEADER = 'Flotilla-Position';

/** The wire form of an event on NATS (and over SSE/gRPC): snake_case, position as a decimal string. */
export interface EventMessage {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly aggregate: string;
  readonly aggregate_id: string;
  readonly revision: number;
  readonly position: string;
  readonly occurred_at: string;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
}

export function toEventMessage(e: StoredEvent): EventMessage {
  const { aggregate, id } = streamParts(e.streamId);
  return {
    id: e.id,
    type: e.type,
    stream: e.streamId,
    aggregate,
    aggregate_id: id,
    revision: Number(e.revision),
    position: e.position.toString(),
    occurred_at: e.occurredAt.toISOString(),
    data: e.data,
    metadata: { ...e.metadata },
  };
}

/**
 * `flotilla.tenants.<tenant>.events.<aggregate>.<aggregateId>.<EventType>`: the live per-tenant
 * copy (core NATS) that a tenant's integrator credentials may subscribe to; null without a tenant.
 */
export function tenantEventSubject(e: Pick<StoredEvent, 'streamId' | 'type' | 'metadata'>): string | null {
  const tenant = e.metadata.tenantId;
  if (!tenant || !/^[A-Za-z0-9_-]+$/.test(tenant)) return null;
  const { aggregate, id } = streamParts(e.streamId);
  return `flotilla.tenants.${tenant}.events.${aggregate}.${id}.${e.type}`;
}

/** `flotilla.events.<aggregate>.<aggregateId>.<EventType>` (before the namespace prefix). */
export function eventSubject(e: Pick<StoredEvent, 'streamId' | 'type'>): string {
  const { aggregate, id } = streamParts(e.streamId);
  return `${EVENTS_SUBJECT}.${aggregate}.${id}.${e.type}`;
}

export interface RelayOptions {
  readonly batchSize?: number;
  readonly replicas?: number;
  /** How long JetStream keeps events (0 = forever). */
  readonly maxAgeMs?: number;
  readonly logger?: Logger;
  readonly checkpointName?: string;
  /** How often the relay notes its progress in PostgreSQL (a hint for when the stream forgot). Default 1 s. */
  readonly checkpointEveryMs?: number;
  readonly onPublished?: (position: bigint, count: number) => void;
}

const NANOS_PER_MS = 1_000_000;

/** Where the stream stands: its last sequence and the log position of its last message. */
interface StreamTail {
  readonly lastSeq: number;
  readonly position: bigint | null;
  /** The stream is new (or was wiped): nothing was ever stored in it. */
  readonly fresh: boolean;
}

/**
 * Publishes every stored event to the JetStream stream FLOTILLA_EVENTS, in log order, with
 * `Nats-Msg-Id` = event id, exactly once, even when killed at any moment or run twice at once.
 *
 * Every message is published with the stream's expected last sequence (the one before it), so
 * the stream only ever holds a gap-free prefix of the log: if one message of a pipelined batch
 * fails, every later one is refused too rather than stored past a hole, and a second relay (a
 * deposed leader that was paused) cannot interleave its messages with the leader's: its
 * expectations fail. That expectation is the relay's fence. On start it resumes after the last
 * message in the stream; only if the stream no longer says (trimmed by age) does it fall back to
 * its checkpoint in PostgreSQL. A stream that is new or was wiped is re-fed from the start of the
 * log: the event store is the source of truth, and JetStream (which fsyncs lazily) can always be
 * re-fed from it. Runs in one replica at a time (a lease).
 */
export class EventRelay {
  private readonly checkpointName: string;

  constructor(
    private readonly messaging: Messaging,
    private readonly store: EventStore,
    private readonly pool: pg.Pool,
    private readonly options: RelayOptions = {},
  ) {
    this.checkpointName = options.checkpointName ?? 'relay';
  }

  get streamName(): string {
    return this.messaging.ns.stream(EVENTS_STREAM);
  }

  async ensureStream(): Promise<void> {
    const jsm = await this.messaging.jsm();
    await ensureStream(jsm, {
      name: this.streamName,
      subjects: [this.messaging.ns.subject(`${EVENTS_SUBJECT}.>`)],
      duplicate_window: 10 * 60_000 * NANOS_PER_MS,
      max_age: (this.options.maxAgeMs ?? 0) * NANOS_PER_MS,
      num_replicas: this.options.replicas ?? 1,
    });
  }

  /** Position of the last event already in the stream (0n when empty). */
  async lastPublishedPosition(): Promise<bigint> {
    return (await this.tail()).position ?? 0n;
  }

  private async tail(): Promise<StreamTail> {
    const jsm = await this.messaging.jsm();
    const info = await jsm.streams.info(this.streamName);
    if (info.state.last_seq === 0) return { lastSeq: 0, position: null, fresh: true };
    if (info.state.messages === 0) return { lastSeq: info.state.last_seq, position: null, fresh: false };
    const msg = await jsm.streams.getMessage(this.streamName, { seq: info.state.last_seq });
    const header = msg?.header.get(POSITION_HEADER);
    return { lastSeq: info.state.last_seq, position: header ? BigInt(header) : null, fresh: false };
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.ensureStream();
    const tail = await this.tail();
    const checkpoint = await readCheckpoint(this.pool, this.checkpointName);
    const after = tail.fresh ? 0n : (tail.position ?? checkpoint);
    this.options.logger?.info({ checkpoint: checkpoint.toString(), stream: tail.position?.toString() ?? null, fresh: tail.fresh, after: after.toString() }, 'relay resuming');
    if (tail.fresh && checkpoint > 0n) this.options.logger?.warn({ checkpoint: checkpoint.toString() }, 'the events stream is new or was wiped: re-feeding it from the event store');
    let lastSeq = tail.lastSeq;
    let lastSaved = 0;
    const js = this.messaging.js();
    const sub = this.store.subscribeToAll({ after, batchSize: this.options.batchSize ?? 500, signal });
    try {
      for await (const batch of sub.pages()) {
        // Pipelined on one connection (log order on the wire), each expecting the sequence of the
        // one before it; the first failure fails the batch, and the next run resumes after
        // whatever the stream holds.
        const acks = await Promise.all(
          batch.map((e, i) => {
            const h = natsHeaders();
            h.set(POSITION_HEADER, e.position.toString());
            h.set('Flotilla-Event-Type', e.type);
            if (e.metadata.traceparent) h.set('traceparent', e.metadata.traceparent);
            const payload = encodeJson(toEventMessage(e));
            return js.publish(this.messaging.ns.subject(eventSubject(e)), payload, { msgID: e.id, headers: h, timeout: 10_000, expect: { lastSequence: lastSeq + i } }).then((ack) => {
              // Live copy under the tenant, once stored: at most once, for tenant integrators.
              const tenantSubject = tenantEventSubject(e);
              if (tenantSubject) this.messaging.nc.publish(this.messaging.ns.subject(tenantSubject), payload, { headers: h });
              return ack;
            });
          }),
        );
        lastSeq = acks[acks.length - 1]!.seq;
        const last = batch[batch.length - 1]!.position;
        if (Date.now() - lastSaved >= (this.options.checkpointEveryMs ?? 1000)) {
          lastSaved = Date.now();
          await this.saveCheckpoint(last);
        }
        this.options.onPublished?.(last, batch.length);
      }
    } finally {
      await sub.close();
    }
  }

  private async saveCheckpoint(position: bigint): Promise<void> {
    await this.pool.query(
      `INSERT INTO projection_checkpoints (name, position, rebuilding, updated_at) VALUES ($1, $2, false, now())
       ON CONFLICT (name) DO UPDATE SET position = GREATEST(projection_checkpoints.position, EXCLUDED.position), updated_at = now()`,
      [this.checkpointName, position.toString()],
    );
  }
}

/**
 * The stream sequence of the first message whose log position is above `position` (the stream
 * holds events in log order, so a binary search over sequences finds it in O(log n) reads).
 * Returns last_seq + 1 when every message is at or below it.
 */
export async function sequenceAfterPosition(messaging: Messaging, position: bigint): Promise<number> {
  const jsm = await messaging.jsm();
  const stream = messaging.ns.stream(EVENTS_STREAM);
  const info = await jsm.streams.info(stream);
  let lo = info.state.first_seq;
  let hi = info.state.last_seq + 1;
  if (info.state.messages === 0) return hi;
  const positionAt = async (seq: number): Promise<bigint | undefined> => {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const header = msg?.header.get(POSITION_HEADER);
    return header ? BigInt(header) : undefined;
  };
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const p = await positionAt(mid);
    // A deleted or unreadable message counts as "before": the search then moves past it.
    if (p === undefined || p <= position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
