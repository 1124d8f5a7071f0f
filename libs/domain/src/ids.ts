import { TypeID, typeid } from 'typeid-js';
import { ValidationError } from './errors.js';

/**
 * Identifiers. Flotilla generates TypeIDs (`cluster_01h…`: a prefix and a UUIDv7, so they sort by
 * creation time); clients may instead choose a DNS label (`cluster-test-001`, `node-2`,
 * `marketing-v1`) as the seeds do. Both forms are accepted wherever an id is.
 */
export const ID_PREFIXES = {
  cluster: 'cluster',
  blueprint: 'blueprint',
  node: 'node',
  agent: 'agent',
  task: 'task',
  key: 'key',
  tenant: 'tenant',
  user: 'user',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A new TypeID of this kind. For services and tests only: deciders receive ids on commands. */
export function newId(kind: IdKind): string {
  return typeid(ID_PREFIXES[kind]).toString();
}

export function isDnsLabel(value: unknown): value is string {
  return typeof value === 'string' && DNS_LABEL.test(value);
}

export function isTypeId(kind: IdKind, value: unknown): value is string {
  if (typeof value !== 'string' || !value.startsWith(`${ID_PREFIXES[kind]}_`)) return false;
  try {
    TypeID.fromString(value, ID_PREFIXES[kind]);
    return true;
  } catch {
    return false;
  }
}

/** True for a TypeID with this kind's prefix or a client-chosen DNS label. */
export function isValidId(kind: IdKind, value: unknown): value is string {
  return isDnsLabel(value) || isTypeId(kind, value);
}

/**
 * Returns `value` when it is a valid id of this kind; otherwise throws a ValidationError whose
 * issue names `field` (default `<kind>Id`).
 */
export function parseId(kind: IdKind, value: unknown, field: string = `${kind}Id`): string {
  if (isValidId(kind, value)) return value;
  throw ValidationError.of([{ path: field, message: idProblem(kind, value) }]);
}

/** The sentence parseId would report for an invalid id (for callers collecting issues). */
export function idProblem(kind: IdKind, value: unknown): string {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : typeof value;
  return `expected a ${kind} id: a TypeID '${ID_PREFIXES[kind]}_…' or a DNS label (lowercase letters, digits and '-', 1-63 characters), got ${shown}`;
}

export type AggregateKind = 'cluster' | 'blueprint' | 'node';

const AGGREGATES: readonly AggregateKind[] = ['cluster', 'blueprint', 'node'];

export const clusterStream = (id: string): string => `cluster-${id}`;
export const blueprintStream = (id: string): string => `blueprint-${id}`;
export const nodeStream = (id: string): string => `node-${id}`;

export function streamOf(aggregate: AggregateKind, id: string): string {
  return `${aggregate}-${id}`;
}

/** Inverse of the stream functions: `cluster-cluster-test-001` → `{cluster, cluster-test-001}`. */
export function aggregateOfStream(streamId: string): { aggregate: AggregateKind; id: string } {
  const dash = streamId.indexOf('-');
  const aggregate = streamId.slice(0, dash) as AggregateKind;
  const id = streamId.slice(dash + 1);
  if (dash <= 0 || !AGGREGATES.includes(aggregate) || !isValidId(aggregate, id)) {
    throw ValidationError.of([{ path: 'streamId', message: `expected '<cluster|blueprint|node>-<id>', got ${JSON.stringify(streamId)}` }]);
  }
  return { aggregate, id };
}
