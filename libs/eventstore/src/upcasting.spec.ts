import { describe, expect, it } from '@jest/globals';
import { InternalError } from '@flotilla/domain';
import type { StoredEvent, Upcasters } from './event-store.port.js';
import { upcast, upcastAll } from './upcasting.js';

const stored = (
  type: string,
  schemaVersion: number,
  data: Record<string, unknown>,
): StoredEvent => ({
  id: '018f0000-0000-7000-8000-000000000000',
  type,
  streamId: 'cluster-1',
  revision: 0n,
  position: 1n,
  occurredAt: new Date(0),
  data,
  metadata: {
    tenantId: 't',
    actor: 'a',
    correlationId: 'c',
    causationId: null,
    traceparent: null,
    schemaVersion,
  },
});

const bump = (e: StoredEvent, data: Record<string, unknown>): StoredEvent => ({
  ...e,
  data,
  metadata: { ...e.metadata, schemaVersion: e.metadata.schemaVersion + 1 },
});

describe('upcast', () => {
  const upcasters: Upcasters = {
    ClusterScaled: (e) => {
      switch (e.metadata.schemaVersion) {
        case 1:
          return bump(e, { ...e.data, reason: 'unknown' });
        case 2:
          return bump(e, { target: e.data['to'], reason: e.data['reason'] });
        default:
          return e;
      }
    },
    ScaledCluster: (e) => ({ ...e, type: 'ClusterScaled' }),
  };

  it('applies one version step at a time until the event is current', () => {
    expect(upcast(upcasters, stored('ClusterScaled', 1, { to: 3 }))).toMatchObject({
      type: 'ClusterScaled',
      data: { target: 3, reason: 'unknown' },
      metadata: { schemaVersion: 3 },
    });
  });

  it('follows a rename into the new type’s chain', () => {
    expect(upcast(upcasters, stored('ScaledCluster', 1, { to: 2 }))).toMatchObject({
      type: 'ClusterScaled',
      data: { target: 2 },
      metadata: { schemaVersion: 3 },
    });
  });

  it('leaves current events and unknown types alone (and ignores inherited keys)', () => {
    const current = stored('ClusterScaled', 3, { target: 1, reason: 'load' });
    expect(upcast(upcasters, current)).toBe(current);
    const other = stored('toString', 1, {});
    expect(upcast(upcasters, other)).toBe(other);
    const events = [current, other];
    expect(upcastAll({}, events)).toBe(events);
    expect(upcastAll(undefined, events)).toBe(events);
  });

  it('fails loudly when upcasters undo each other', () => {
    const loop: Upcasters = { A: (e) => ({ ...e, type: 'B' }), B: (e) => ({ ...e, type: 'A' }) };
    expect(() => upcast(loop, stored('A', 1, {}))).toThrow(InternalError);
  });
});
