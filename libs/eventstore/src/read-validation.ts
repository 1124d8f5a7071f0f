import type { ValidationIssue } from '@flotilla/domain';

/** Revisions and positions: bigint, never negative. */
export function assertNonNegative(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (value !== undefined && (typeof value !== 'bigint' || value < 0n))
    issues.push({ path, message: 'must be a bigint >= 0n' });
}

export function assertLimit(value: unknown, issues: ValidationIssue[]): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
    issues.push({ path: 'limit', message: 'must be an integer >= 0' });
  }
}
