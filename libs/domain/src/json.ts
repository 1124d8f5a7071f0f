import { createHash } from 'node:crypto';

/** A value that survives `JSON.stringify` → `JSON.parse` unchanged: what event data must be. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * Serialises a value with object keys sorted at every level, so that two structurally equal
 * values always produce the same text (the basis of spec and blueprint hashes). Keys whose value
 * is `undefined` are left out, as `JSON.stringify` does; non-finite numbers are refused because
 * they would silently become `null`.
 */
export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : write(v))).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/** Hex SHA-256 of a string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Stable content hash of any JSON-like value: SHA-256 of its canonical JSON. */
export function stableHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/**
 * True when `value` is plain JSON: strings, finite numbers, booleans, null, arrays and plain
 * objects, with no `undefined`-valued keys, Dates, bigints, functions or class instances.
 */
export function isPlainJson(value: unknown): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (Array.isArray(value)) return value.every((v) => isPlainJson(v));
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value as Record<string, unknown>).every((v) => v !== undefined && isPlainJson(v));
    }
    default:
      return false;
  }
}

/** Copies an object without its `undefined`-valued keys (shallow), so event data stays plain JSON. */
export function compact<T extends Record<string, unknown>>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
