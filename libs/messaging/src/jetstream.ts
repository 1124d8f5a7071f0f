import { setTimeout as delay } from 'node:timers/promises';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';

export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };
export type ConsumerSpec = Partial<ConsumerConfig> & { durable_name: string };

function isNotFound(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
  );
}

/** Fields of an existing stream that differ from the spec (and can be updated in place). */
function driftOf(existing: StreamConfig, spec: StreamSpec): string[] {
  const keys: (keyof StreamConfig)[] = ['subjects', 'max_age', 'max_msgs', 'max_bytes', 'duplicate_window', 'num_replicas', 'max_msgs_per_subject', 'discard', 'allow_direct', 'deny_delete', 'deny_purge'];
  return keys.filter((k) => spec[k] !== undefined && JSON.stringify(existing[k]) !== JSON.stringify(spec[k]));
}

/**
 * Errors JetStream answers while a cluster is still forming or electing its meta leader (a
 * stack starting all at once, a server restarting): worth retrying, not worth crashing over.
 */
const STARTING = /no suitable peers for placement|jetstream system temporarily unavailable|jetstream cluster not (?:assigned|available)|no jetstream meta leader|insufficient resources|timeout|no responders/i;

/**
 * Provisions JetStream (streams, consumers, KV buckets) through the window in which a NATS
 * cluster is still forming: transient refusals are retried with backoff up to `timeoutMs`;
 * anything else, or the same refusal past the deadline, is thrown.
 */
export async function whileJetStreamStarts<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let backoffMs = 100; ; backoffMs = Math.min(backoffMs * 2, 2000)) {
    try {
      return await fn();
    } catch (err) {
      if (!STARTING.test(String((err as Error).message)) || Date.now() + backoffMs > deadline) throw err;
      await delay(backoffMs);
    }
  }
}

/**
 * Creates the stream, or updates it when its updatable settings drifted, or leaves it alone.
 * Safe to call from every replica at start: a concurrent create by another replica ("already
 * in use") is resolved by re-reading and updating.
 */
export function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  return whileJetStreamStarts(() => ensureStreamOnce(jsm, spec));
}

async function ensureStreamOnce(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(spec.name);
      const drift = driftOf(info.config, spec);
      if (drift.length === 0) return info;
      // Storage type and retention cannot change on a live stream; everything in driftOf can.
      return await jsm.streams.update(spec.name, { ...info.config, ...spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      return await jsm.streams.add(spec);
    } catch (err) {
      if (attempt >= 2 || !/already in use|exists/i.test((err as Error).message)) throw err;
    }
  }
}

/** Creates the durable consumer or updates it to the spec; idempotent like ensureStream. */
export function ensureConsumer(jsm: JetStreamManager, stream: string, spec: ConsumerSpec): Promise<ConsumerInfo> {
  return whileJetStreamStarts(() => ensureConsumerOnce(jsm, stream, spec));
}

async function ensureConsumerOnce(jsm: JetStreamManager, stream: string, spec: ConsumerSpec): Promise<ConsumerInfo> {
  try {
    const info = await jsm.consumers.info(stream, spec.durable_name);
    const changed = (Object.keys(spec) as (keyof ConsumerConfig)[]).some(
      (k) => k !== 'durable_name' && JSON.stringify(info.config[k]) !== JSON.stringify(spec[k]),
    );
    if (!changed) return info;
    return await jsm.consumers.update(stream, spec.durable_name, spec);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return jsm.consumers.add(stream, spec);
}

/**
 * The stream, consumer or bucket a call needed is gone from JetStream: deleted, or lost with the
 * server's store (a wiped or replaced volume, a new NATS cluster). A publish that no stream stores
 * comes back as "no responders" (JetStreamNotEnabled); a lookup as stream or consumer not found.
 */
export function isMissingJetStreamResource(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound;
  const e = err as { name?: unknown; message?: unknown; isNoResponders?: () => boolean } | null | undefined;
  if (!e) return false;
  if (e.name === 'JetStreamNotEnabled') return true;
  if (typeof e.isNoResponders === 'function' && e.isNoResponders()) return true;
  return /stream not found|consumer not found|no responders/i.test(String(e.message ?? ''));
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown } | null | undefined;
  return e?.name === 'TimeoutError' || /timeout/i.test(String(e?.message ?? ''));
}

/**
 * A JetStream-backed handle (a KV bucket, say) that provisions itself again when what it stands
 * for vanished from the server. PostgreSQL is the source of truth and JetStream's store can be
 * lost (it fsyncs lazily; a volume can be wiped): a handle opened once at start would otherwise
 * fail every call until its process restarts. A call that fails because the resource is missing
 * runs `reopen` (one at a time, shared by concurrent callers) and is tried once more on the new
 * handle. Only safe for calls that may be repeated: KV's compare-and-set operations are (on a new
 * bucket an update on an old revision is refused, as after any other writer).
 *
 * Some calls get no answer at all when their stream is gone (a KV `get` is a direct get, which
 * nobody answers for a deleted stream): with `probe`, a call that timed out asks the handle
 * whether its resource still exists (`probe` throws the missing-resource error if not).
 */
export function reopening<T extends object>(first: T, reopen: () => Promise<T>, options: { readonly probe?: (handle: T) => Promise<unknown>; readonly onReopen?: (err: unknown) => void } = {}): T {
  const { probe, onReopen } = options;
  let current = first;
  let pending: Promise<T> | undefined;
  const heal = (failed: T, err: unknown): Promise<T> => {
    if (current !== failed) return Promise.resolve(current);
    if (!pending) {
      onReopen?.(err);
      pending = reopen()
        .then((next) => (current = next))
        .finally(() => (pending = undefined));
    }
    return pending;
  };
  type Method = (...args: unknown[]) => unknown;
  return new Proxy(first, {
    get(_target, prop) {
      const value: unknown = Reflect.get(current, prop, current);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const used = current;
        const result = Reflect.apply(Reflect.get(used, prop, used) as Method, used, args);
        if (!(result instanceof Promise)) return result;
        return result.catch(async (err: unknown) => {
          let missing = isMissingJetStreamResource(err);
          if (!missing && probe && isTimeout(err)) missing = await probe(used).then(() => false, (e: unknown) => isMissingJetStreamResource(e));
          if (!missing) throw err;
          const healed = await heal(used, err);
          return Reflect.apply(Reflect.get(healed, prop, healed) as Method, healed, args);
        });
      };
    },
  });
}
