import { describe, expect, it, afterAll } from '@jest/globals';
import { ValidationError } from '@flotilla/domain';
import type { NewEvent } from '../event-store.port.js';
import { MAX_EVENTS_PER_APPEND } from './position.js';
import { PostgresEventStore } from './postgres.event-store.js';

/** Everything here fails before any I/O: the URL points nowhere. */
const store = new PostgresEventStore({ url: 'postgres://postgres@127.0.0.1:1/none' });
const event: NewEvent = {
  type: 'Happened',
  data: {},
  metadata: {
    tenantId: 't',
    actor: 'a',
    correlationId: 'c',
    causationId: null,
    traceparent: null,
    schemaVersion: 1,
  },
};

afterAll(() => store.close());

describe('PostgresEventStore input checks', () => {
  it(`refuses appends of more than 2^20 (${MAX_EVENTS_PER_APPEND}) events`, async () => {
    const huge = new Array<NewEvent>(MAX_EVENTS_PER_APPEND + 1).fill(event);
    await expect(store.append('s-1', huge, { expectedRevision: 'any' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('refuses schema names that would need quoting', () => {
    expect(() => new PostgresEventStore({ url: 'postgres://x/y', schema: 'Event-Store' })).toThrow(
      ValidationError,
    );
    expect(() => new PostgresEventStore({ url: 'postgres://x/y', schema: 'a;drop' })).toThrow(
      ValidationError,
    );
  });

  it('refuses malformed read options', async () => {
    await expect(store.readStream('s-1', { fromRevision: -1n })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.readStream('s-1', { limit: 1.5 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readStream('', {})).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readAll({ after: -5n })).rejects.toBeInstanceOf(ValidationError);
    expect(() => store.subscribeToAll({ batchSize: 0 })).toThrow(ValidationError);
  });
});
