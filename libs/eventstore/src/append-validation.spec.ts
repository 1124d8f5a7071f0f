import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@flotilla/domain';
import { v4 as uuidv4, v7 as uuidv7, version as uuidVersion } from 'uuid';
import { prepareAppend } from './append-validation.js';
import type { EventMetadata, NewEvent } from './event-store.port.js';

const meta: EventMetadata = {
  tenantId: 't',
  actor: 'a',
  correlationId: 'c',
  causationId: null,
  traceparent: null,
  schemaVersion: 1,
};
const event = (extra: Partial<NewEvent> = {}): NewEvent => ({
  type: 'Happened',
  data: { x: 1 },
  metadata: meta,
  ...extra,
});

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues.map((i) => i.path);
  }
  throw new Error('expected a ValidationError');
}

describe('prepareAppend', () => {
  it('gives events without an id a UUIDv7 and keeps (lower-cased) ids callers chose', () => {
    const chosen = uuidv7().toUpperCase();
    const prepared = prepareAppend('s-1', [event(), event({ id: chosen })], 10);
    expect(uuidVersion(prepared.events[0]!.id)).toBe(7);
    expect(prepared.events[1]!.id).toBe(chosen.toLowerCase());
    expect(prepared.callerChoseIds).toBe(true);
    expect(prepareAppend('s-1', [event()], 10).callerChoseIds).toBe(false);
  });

  it('accepts ids of other UUID versions', () => {
    expect(prepareAppend('s-1', [event({ id: uuidv4() })], 10).events).toHaveLength(1);
  });

  it('serialises data and metadata once, with absent causation and trace as null', () => {
    const partial = {
      tenantId: 't',
      actor: 'a',
      correlationId: 'c',
      schemaVersion: 2,
    } as EventMetadata;
    const [e] = prepareAppend('s-1', [event({ metadata: partial })], 10).events;
    expect(JSON.parse(e!.metadataJson)).toEqual({
      ...partial,
      causationId: null,
      traceparent: null,
    });
    expect(JSON.parse(e!.dataJson)).toEqual({ x: 1 });
  });

  it('reports every problem with its path', () => {
    const dup = uuidv7();
    const paths = issuesOf(() =>
      prepareAppend(
        '$system',
        [
          event({ id: dup }),
          event({ id: dup }),
          event({ id: 'nope' }),
          event({ type: '' }),
          event({ data: [] as unknown as Record<string, unknown> }),
          event({ data: { n: 1n } }),
          event({
            metadata: {
              ...meta,
              tenantId: '',
              causationId: 7 as unknown as string,
              schemaVersion: 0,
            },
          }),
        ],
        10,
      ),
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        'streamId',
        'events[1].id',
        'events[2].id',
        'events[3].type',
        'events[4].data',
        'events[5].data',
        'events[6].metadata.tenantId',
        'events[6].metadata.causationId',
        'events[6].metadata.schemaVersion',
      ]),
    );
  });

  it('refuses empty and oversized batches', () => {
    expect(issuesOf(() => prepareAppend('s-1', [], 10))).toEqual(['events']);
    expect(issuesOf(() => prepareAppend('s-1', new Array<NewEvent>(11).fill(event()), 10))).toEqual(
      ['events'],
    );
  });
});
