import { describe, expect, it } from '@jest/globals';
import { ANY, NO_STREAM, START, STREAM_EXISTS, type RecordedEvent } from '@eventstore/db-client';
import { InternalError } from '@flotilla/domain';
import {
  fromEsdbCurrentRevision,
  isSystemEvent,
  positionOf,
  readPositionAfter,
  toEsdbExpectedRevision,
  toStoredEvent,
} from './eventstoredb.mapping.js';

const recorded = (overrides: Record<string, unknown> = {}): RecordedEvent =>
  ({
    streamId: 'cluster-1',
    id: '018f0000-0000-7000-8000-000000000001',
    isJson: true,
    revision: 4n,
    type: 'ClusterScaled',
    created: new Date(1_700_000_000_000),
    data: { to: 3 },
    metadata: {
      tenantId: 't',
      actor: 'a',
      correlationId: 'c',
      causationId: null,
      traceparent: null,
      schemaVersion: 1,
    },
    position: { commit: 900n, prepare: 900n },
    ...overrides,
  }) as unknown as RecordedEvent;

describe('EventStoreDB mapping', () => {
  it('maps every expected revision to the client’s', () => {
    expect(toEsdbExpectedRevision('any')).toBe(ANY);
    expect(toEsdbExpectedRevision('no_stream')).toBe(NO_STREAM);
    expect(toEsdbExpectedRevision('exists')).toBe(STREAM_EXISTS);
    expect(toEsdbExpectedRevision(7n)).toBe(7n);
  });

  it('maps the server’s current revision back', () => {
    expect(fromEsdbCurrentRevision(NO_STREAM)).toBeNull();
    expect(fromEsdbCurrentRevision(3n)).toBe(3n);
  });

  it('recognises system streams and events', () => {
    expect(isSystemEvent('$stats-127.0.0.1:2113', 'StatsCollected')).toBe(true);
    expect(isSystemEvent('$ce-cluster', '$>')).toBe(true);
    expect(isSystemEvent('cluster-1', '$metadata')).toBe(true);
    expect(isSystemEvent('cluster-1', 'ClusterScaled')).toBe(false);
  });

  it('turns an exclusive checkpoint into a read position', () => {
    expect(readPositionAfter(0n)).toBe(START);
    expect(readPositionAfter(900n)).toEqual({ commit: 900n, prepare: 900n });
  });

  it('maps a recorded JSON event to a stored event', () => {
    expect(toStoredEvent(recorded(), positionOf(recorded()))).toEqual({
      id: '018f0000-0000-7000-8000-000000000001',
      type: 'ClusterScaled',
      streamId: 'cluster-1',
      revision: 4n,
      position: 900n,
      occurredAt: new Date(1_700_000_000_000),
      data: { to: 3 },
      metadata: {
        tenantId: 't',
        actor: 'a',
        correlationId: 'c',
        causationId: null,
        traceparent: null,
        schemaVersion: 1,
      },
    });
    expect(positionOf(recorded({ position: undefined }))).toBe(-1n);
  });

  it('refuses binary events (this adapter never writes them)', () => {
    expect(() => toStoredEvent(recorded({ isJson: false, data: new Uint8Array([1]) }), 1n)).toThrow(
      InternalError,
    );
  });
});
