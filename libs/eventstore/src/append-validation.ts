import { ValidationError, type ValidationIssue } from '@flotilla/domain';
import { v7 as uuidv7, validate as isUuid } from 'uuid';
import type { EventMetadata, NewEvent } from './event-store.port.js';

/** An event checked, given its id and serialised once, ready for an adapter to write. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata: EventMetadata;
  readonly dataJson: string;
  readonly metadataJson: string;
}

export interface PreparedAppend {
  readonly streamId: string;
  readonly events: readonly PreparedEvent[];
  /** True when the caller chose at least one id: only then can the append be a retry of a stored one. */
  readonly callerChoseIds: boolean;
}

const MAX_NAME_LENGTH = 512;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkName(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (typeof value !== 'string' || value.length === 0)
    issues.push({ path, message: 'must be a non-empty string' });
  else if (value.length > MAX_NAME_LENGTH)
    issues.push({ path, message: `must be at most ${MAX_NAME_LENGTH} characters` });
  // `$` names are EventStoreDB's system streams and events; refusing them everywhere keeps the adapters alike.
  else if (value.startsWith('$'))
    issues.push({
      path,
      message: 'must not start with $ (reserved for system streams and events)',
    });
}

function toJson(value: unknown, path: string, issues: ValidationIssue[]): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    issues.push({
      path,
      message: `is not JSON-serialisable (${err instanceof Error ? err.message : String(err)})`,
    });
    return '';
  }
}

function prepareMetadata(raw: unknown, path: string, issues: ValidationIssue[]): EventMetadata {
  if (!isPlainObject(raw)) {
    issues.push({ path, message: 'must be an object' });
    return raw as EventMetadata;
  }
  for (const key of ['tenantId', 'actor', 'correlationId'] as const) {
    if (typeof raw[key] !== 'string' || raw[key] === '')
      issues.push({ path: `${path}.${key}`, message: 'must be a non-empty string' });
  }
  for (const key of ['causationId', 'traceparent'] as const) {
    const v = raw[key];
    if (v !== undefined && v !== null && typeof v !== 'string')
      issues.push({ path: `${path}.${key}`, message: 'must be a string or null' });
  }
  const version = raw['schemaVersion'];
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    issues.push({ path: `${path}.schemaVersion`, message: 'must be an integer >= 1' });
  }
  return {
    ...raw,
    causationId: (raw['causationId'] as string | null | undefined) ?? null,
    traceparent: (raw['traceparent'] as string | null | undefined) ?? null,
  } as EventMetadata;
}

/**
 * Checks an append before any I/O: stream id, batch size, each event's type, data and metadata,
 * and ids (valid UUIDs, unique in the batch; UUIDv7 generated when absent). Every problem is
 * reported at once, with its path.
 */
export function prepareAppend(
  streamId: string,
  events: readonly NewEvent[],
  maxEvents: number,
): PreparedAppend {
  const issues: ValidationIssue[] = [];
  checkName(streamId, 'streamId', issues);
  if (!Array.isArray(events) || events.length === 0) {
    issues.push({ path: 'events', message: 'must be a non-empty array' });
    throw ValidationError.of(issues, 'append');
  }
  if (events.length > maxEvents) {
    issues.push({
      path: 'events',
      message: `at most ${maxEvents} events per append (got ${events.length})`,
    });
    throw ValidationError.of(issues, 'append');
  }
  const seen = new Set<string>();
  let callerChoseIds = false;
  const prepared = events.map((event, i): PreparedEvent => {
    const path = `events[${i}]`;
    if (typeof event !== 'object' || event === null) {
      issues.push({ path, message: 'must be an object' });
      return event as never;
    }
    let id: string;
    if (event.id === undefined) {
      id = uuidv7();
    } else {
      callerChoseIds = true;
      id = typeof event.id === 'string' ? event.id.toLowerCase() : '';
      if (!isUuid(id))
        issues.push({ path: `${path}.id`, message: 'must be a UUID (UUIDv7 preferred)' });
      else if (seen.has(id))
        issues.push({ path: `${path}.id`, message: 'appears twice in this append' });
      seen.add(id);
    }
    checkName(event.type, `${path}.type`, issues);
    if (!isPlainObject(event.data))
      issues.push({ path: `${path}.data`, message: 'must be an object' });
    const metadata = prepareMetadata(event.metadata, `${path}.metadata`, issues);
    return {
      id,
      type: event.type,
      data: event.data,
      metadata,
      dataJson: toJson(event.data, `${path}.data`, issues),
      metadataJson: toJson(metadata, `${path}.metadata`, issues),
    };
  });
  if (issues.length > 0) throw ValidationError.of(issues, 'append');
  return { streamId, events: prepared, callerChoseIds };
}
