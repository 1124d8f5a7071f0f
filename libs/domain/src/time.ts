import { ValidationError } from './errors.js';

/** A point in time as the domain receives it: an ISO-8601 string or epoch milliseconds. */
export type Instant = string | number;

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** True for an ISO-8601 timestamp with a date, a time and a zone (`2026-02-18T21:00:00Z`). */
export function isIsoTimestamp(value: unknown): value is string {
  return typeof value === 'string' && ISO_8601.test(value) && Number.isFinite(Date.parse(value));
}

/** Epoch milliseconds of an instant; throws ValidationError naming `field` when it is not one. */
export function toMillis(value: Instant, field = 'now'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
  } else if (isIsoTimestamp(value)) {
    return Date.parse(value);
  }
  throw ValidationError.of([{ path: field, message: `expected an ISO-8601 timestamp, got ${JSON.stringify(value)}` }]);
}

/** Milliseconds from `from` to `to` (negative when `to` is earlier). */
export function elapsedMs(from: Instant, to: Instant): number {
  return toMillis(to) - toMillis(from);
}
