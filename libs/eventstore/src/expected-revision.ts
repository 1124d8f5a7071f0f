import { ConcurrencyError, ValidationError, type ValidationIssue } from '@flotilla/domain';
import type { ExpectedRevision } from './event-store.port.js';

/** A stream's state as a revision check sees it: its last revision, or `null` when it does not exist. */
export type CurrentRevision = bigint | null;

/** Throws ValidationError unless `expected` is one of the four accepted forms. */
export function assertExpectedRevision(expected: unknown): asserts expected is ExpectedRevision {
  if (expected === 'any' || expected === 'no_stream' || expected === 'exists') return;
  if (typeof expected === 'bigint' && expected >= 0n) return;
  throw new ValidationError('expectedRevision must be any, no_stream, exists or a revision >= 0n', [
    {
      path: 'expectedRevision',
      message: `got ${typeof expected === 'bigint' ? expected.toString() : JSON.stringify(expected)}`,
    },
  ]);
}

export function satisfiesExpectedRevision(
  expected: ExpectedRevision,
  current: CurrentRevision,
): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === null;
    case 'exists':
      return current !== null;
    default:
      return current === expected;
  }
}

/** The decimal string callers see in error details and logs (bigint does not survive JSON). */
export function formatRevision(revision: ExpectedRevision | CurrentRevision): string {
  if (revision === null) return 'no_stream';
  return typeof revision === 'bigint' ? revision.toString() : revision;
}

export function concurrencyError(
  streamId: string,
  expected: ExpectedRevision,
  actual: CurrentRevision,
): ConcurrencyError {
  const exp = formatRevision(expected);
  const act = formatRevision(actual);
  return new ConcurrencyError(`stream '${streamId}' expected revision ${exp} but is at ${act}`, {
    streamId,
    expected: exp,
    actual: act,
  });
}

/** A fence names a role and a non-negative integer term. */
export function assertFence(fence: unknown): void {
  if (fence === undefined) return;
  const f = fence as { role?: unknown; term?: unknown };
  const issues: ValidationIssue[] = [];
  if (typeof f.role !== 'string' || f.role === '') issues.push({ path: 'fence.role', message: 'must be a non-empty string' });
  if (typeof f.term !== 'number' || !Number.isSafeInteger(f.term) || f.term < 0) issues.push({ path: 'fence.term', message: 'must be a safe integer >= 0' });
  if (issues.length) throw ValidationError.of(issues, 'append fence');
}
