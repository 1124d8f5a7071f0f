import { setTimeout as delay } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { TASKS_BUCKET, type TaskAttempt, type TaskView } from '@flotilla/contracts';
import { NotFoundError } from '@flotilla/domain';
import { reopening, whileJetStreamStarts, type Messaging } from '@flotilla/messaging';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A task's record: its view, plus the stream sequence of the queue message that carries it (set
 * when it is queued; an agent acks any other copy of the task without running it).
 */
export type TaskRecord = Omit<TaskView, 'lineage' | 'usage'> & {
  readonly queue_seq?: number | undefined;
  /** Absent until an attempt ends (and on records written before attempts were recorded). */
  readonly lineage?: readonly TaskAttempt[];
};

/** A record and the KV revision it was read or written at (for compare-and-set). */
export interface Versioned {
  readonly record: TaskRecord;
  readonly revision: number;
}

/**
 * Task records in a NATS KV bucket whose TTL is the retention period. Updates are compare-and-set
 * on the key's revision (retried on a race), so two agents that both got a redelivered task, or
 * an agent and a timeout, never overwrite each other's state blindly.
 */
export class TaskStore {
  private constructor(private readonly kv: KV) {}

  static async open(messaging: Messaging, opts: { retentionMs: number; replicas: number }): Promise<TaskStore> {
    const open = () => whileJetStreamStarts(() => new Kvm(messaging.nc).create(messaging.ns.bucket(TASKS_BUCKET), { ttl: opts.retentionMs, history: 1, replicas: opts.replicas }));
    // The bucket can vanish under a running process (JetStream's store lost or wiped): it is
    // created again on the first call that misses it, instead of failing every call until restart.
    return new TaskStore(reopening(await open(), open, { probe: (kv) => kv.status() }));
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    return (await this.read(id))?.record;
  }

  /** The record with its KV revision: pass it to `update` to skip the read there. */
  async read(id: string): Promise<Versioned | undefined> {
    const entry = await this.kv.get(`t.${id}`);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { record: JSON.parse(dec.decode(entry.value)) as TaskRecord, revision: entry.revision };
  }

  async require(id: string): Promise<TaskRecord> {
    const record = await this.get(id);
    if (!record) throw NotFoundError.of('task', id);
    return record;
  }

  async create(record: TaskRecord): Promise<void> {
    await this.kv.create(`t.${record.id}`, enc.encode(JSON.stringify(record)));
  }

  /**
   * Creates the record unless one exists (the submitter and an agent may both write it, see
   * TaskIntake): the record written, or the one found.
   */
  async createOrGet(record: TaskRecord): Promise<Versioned> {
    try {
      const revision = await this.kv.create(`t.${record.id}`, enc.encode(JSON.stringify(record)));
      return { record, revision };
    } catch (err) {
      const existing = await this.read(record.id);
      if (existing) return existing;
      throw err;
    }
  }

  /** Applies `change` to the current record (CAS, retried); returns the record written. */
  async update(id: string, change: (current: TaskRecord) => TaskRecord | null): Promise<TaskRecord | undefined> {
    return (await this.updateVersioned(id, change))?.record;
  }

  /**
   * The same, returning the revision written. With `known` (a record and revision read before),
   * the first attempt writes on that revision without reading again; a race falls back to reading.
   */
  async updateVersioned(id: string, change: (current: TaskRecord) => TaskRecord | null, known?: Versioned): Promise<Versioned | undefined> {
    let current = known;
    for (let attempt = 0; attempt < 10; attempt++) {
      current ??= await this.read(id);
      if (!current) return undefined;
      const next = change(current.record);
      if (!next) return current;
      try {
        const revision = await this.kv.update(`t.${id}`, enc.encode(JSON.stringify(next)), current.revision);
        return { record: next, revision };
      } catch {
        current = undefined;
        await delay(Math.random() * 5 * (attempt + 1));
      }
    }
    throw new Error(`task ${id}: too many concurrent updates`);
  }

  /**
   * Claims an idempotency key for a cluster: returns null when this call claimed it for `taskId`,
   * or the task id that claimed it first.
   */
  async claimIdempotencyKey(clusterId: string, key: string, taskId: string): Promise<string | null> {
    const k = idempotencyEntry(clusterId, key);
    let failure: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await this.kv.create(k, enc.encode(taskId));
        return null;
      } catch (err) {
        failure = err;
        const existing = await this.kv.get(k);
        if (existing?.operation === 'PUT') return dec.decode(existing.value);
        // Released by a refused submission between our create and get: claim it again.
      }
    }
    throw failure;
  }

  /**
   * Gives a claimed key back when the submission it was claimed for was refused before its task
   * existed, so a retry with the same key is judged afresh (not answered with a task that never
   * was). Only the claimant's own claim is released.
   */
  async releaseIdempotencyKey(clusterId: string, key: string, taskId: string): Promise<void> {
    const k = idempotencyEntry(clusterId, key);
    const entry = await this.kv.get(k);
    if (entry && entry.operation === 'PUT' && dec.decode(entry.value) === taskId) await this.kv.delete(k, { previousSeq: entry.revision });
  }
}

const idempotencyEntry = (clusterId: string, key: string) => `i.${clusterId}.${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
