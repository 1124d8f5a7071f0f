import type { ValidationIssue } from '@flotilla/domain';
import { isCategory } from './categories.js';

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

/** A list of stream categories: non-empty, each letters, digits and _. */
export function assertCategories(value: unknown, issues: ValidationIssue[]): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.length === 0 || value.length > 16 || !value.every(isCategory)) {
    issues.push({ path: 'categories', message: 'must be 1 to 16 stream categories (letters, digits, _)' });
  }
}
