import { describe, expect, it } from '@jest/globals';
import { ConcurrencyError, ValidationError } from '@flotilla/domain';
import type { ExpectedRevision } from './event-store.port.js';
import {
  assertExpectedRevision,
  concurrencyError,
  formatRevision,
  satisfiesExpectedRevision,
  type CurrentRevision,
} from './expected-revision.js';

describe('expected revision', () => {
  const table: Array<[ExpectedRevision, CurrentRevision, boolean]> = [
    ['any', null, true],
    ['any', 4n, true],
    ['no_stream', null, true],
    ['no_stream', 0n, false],
    ['exists', null, false],
    ['exists', 0n, true],
    [0n, null, false],
    [0n, 0n, true],
    [3n, 4n, false],
    [4n, 4n, true],
    [5n, 4n, false],
  ];
  it.each(table)('expecting %s of a stream at %s: %s', (expected, current, ok) => {
    expect(satisfiesExpectedRevision(expected, current)).toBe(ok);
  });

  it('formats revisions as JSON-safe strings', () => {
    expect(formatRevision(12n)).toBe('12');
    expect(formatRevision(null)).toBe('no_stream');
    expect(formatRevision('exists')).toBe('exists');
  });

  it('builds a ConcurrencyError that names the stream, the expected and the actual revision', () => {
    const err = concurrencyError('cluster-1', 3n, 5n);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err.code).toBe('concurrency_conflict');
    expect(err.details).toEqual({ streamId: 'cluster-1', expected: '3', actual: '5' });
    expect(JSON.parse(JSON.stringify(err.toEnvelope()))).toEqual(err.toEnvelope());
    expect(concurrencyError('cluster-2', 'exists', null).details).toEqual({
      streamId: 'cluster-2',
      expected: 'exists',
      actual: 'no_stream',
    });
  });

  it.each([[-1n], [1], ['latest'], [undefined], [null]])(
    'refuses %p as an expectation',
    (value) => {
      expect(() => assertExpectedRevision(value)).toThrow(ValidationError);
    },
  );
});
