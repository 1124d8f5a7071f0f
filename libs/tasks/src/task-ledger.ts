import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { TASKS_BUCKET, TASKS_STREAM, taskSubjects, type TaskStatus } from '@flotilla/contracts';
import { decodeJson, isMissingJetStreamResource, type Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import type { PreparedTask } from './task-intake.js';
import type { TaskRecord, TaskStore } from './task-store.js';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Statuses after which a task never runs again. */
const FINISHED: ReadonlySet<TaskStatus> = new Set<TaskStatus>([
  'completed',
  'failed',
  'dead_lettered',
  'rejected',
]);

/** One accepted, unfinished task as the ledger keeps it: what it takes to queue it again. */
export interface LedgerEntry {
  readonly taskId: string;
  readonly subject: string;
  readonly record: TaskRecord;
  readonly acceptedAt: Date;
}

/**
 * The tasks accepted and not yet finished, in PostgreSQL: the source of truth that outlives
 * JetStream. A task lives in NATS (its queue message and its KV record); a NATS store that is
 * wiped or replaced takes both with it. So the intake writes a row here before it queues the
 * task (a refused publish deletes it again), the ledger's loop deletes the row once the task
 * finished, and whatever the loop finds accepted but missing from NATS it queues again.
 *
 * A row holds the task's first record (payload included) and its queue subject. The table is
 * the platform's, like the event store: only the orchestrator touches it, through its own pool
 * (no tenant reads it; tenants read their tasks' records).
 */
export class TaskLedger {
  constructor(
    private readonly db: Queryable,
    private readonly table = 'flotilla_task_ledger',
  ) {}

  async ensureSchema(): Promise<void> {
    // Serialised on an advisory lock: two orchestrators starting on a fresh database.
    await this.db.query(
      `DO $$ BEGIN
         PERFORM pg_advisory_xact_lock(hashtextextended('flotilla-task-ledger:${this.table}', 0));
         CREATE TABLE IF NOT EXISTS ${this.table} (
           task_id text PRIMARY KEY,
           tenant_id text NOT NULL,
           subject text NOT NULL,
           record jsonb NOT NULL,
           accepted_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE INDEX IF NOT EXISTS ${this.table}_accepted ON ${this.table} (accepted_at, task_id);
       END $$`,
    );
  }

  /** Records an accepted task (before it is queued). A repeat (an idempotency-key takeover) is a no-op. */
  async accept(task: PreparedTask): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.table} (task_id, tenant_id, subject, record) VALUES ($1, $2, $3, $4) ON CONFLICT (task_id) DO NOTHING`,
      [task.record.id, task.record.tenant_id, task.subject, JSON.stringify(task.record)],
    );
  }

  /** Forgets tasks: finished, or refused before anything was queued. */
  async forget(taskIds: readonly string[]): Promise<number> {
    if (taskIds.length === 0) return 0;
    const { rowCount } = await this.db.query(
      `DELETE FROM ${this.table} WHERE task_id = ANY($1::text[])`,
      [taskIds],
    );
    return rowCount ?? 0;
  }

  /** Unfinished tasks accepted in (after, until], oldest first (keyset paging on accepted_at, task_id). */
  async accepted(range: {
    after?: { at: Date; taskId: string } | undefined;
    until: Date;
    limit: number;
  }): Promise<LedgerEntry[]> {
    const after = range.after ?? { at: new Date(0), taskId: '' };
    const { rows } = await this.db.query<{
      task_id: string;
      subject: string;
      record: TaskRecord;
      accepted_at: Date;
    }>(
      `SELECT task_id, subject, record, accepted_at FROM ${this.table}
        WHERE (accepted_at, task_id) > ($1, $2) AND accepted_at <= $3
        ORDER BY accepted_at, task_id LIMIT $4`,
      [after.at, after.taskId, range.until, range.limit],
    );
    return rows.map((r) => ({
      taskId: r.task_id,
      subject: r.subject,
      record: r.record,
      acceptedAt: r.accepted_at,
    }));
  }

  async size(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${this.table}`,
    );
    return Number(rows[0]!.n);
  }
}

export interface TaskLedgerLoopOptions {
  /** How long a task may be accepted without a record before it counts as lost (an intake crash window). */
  readonly graceMs: number;
  /** How often the loop looks at the ledger and at the NATS store's identity. */
  readonly intervalMs: number;
  /** TASK_RETENTION_MS: a record older than this expired (it is not lost). */
  readonly retentionMs: number;
  readonly logger?: Logger;
  /** Counts what the loop did (metrics). */
  readonly onRefed?: (n: number) => void;
}

/** What the loop did in one pass (tests, logs). */
export interface LedgerPass {
  readonly checked: number;
  readonly finished: number;
  readonly refed: number;
  readonly expired: number;
  /** Whether the NATS store was found replaced (every unfinished task was checked). */
  readonly storeReplaced: boolean;
}

/**
 * The ledger's singleton loop:
 *
 * - While it leads, it listens to task outcomes (`flotilla.tasks.*.*.*`) and forgets a task once
 *   its final outcome is announced (batched). Announcements are at most once, so that is only the
 *   fast path.
 * - Every `intervalMs`, it looks at tasks accepted at least `graceMs` ago that it has not looked
 *   at yet (each once per leader): a task whose record says finished is forgotten; a task that
 *   has its record is in NATS and left alone; a task without a record was lost (its store wiped,
 *   or the intake died between the ledger and the queue) and is queued again under its own id
 *   (`Nats-Msg-Id` deduplicates a message that still exists), its record written anew.
 * - It also compares the identity of the NATS store (the creation time of the task stream and of
 *   the record bucket) with the last it saw: when either changed or vanished, the store was
 *   replaced, and every unfinished task, of any age, is looked at again.
 *
 * A task that was running when its store was lost and finished before its outcome reached the
 * ledger is queued again and runs twice: the price of a store that forgot it (at least once,
 * never lost). The agent that finishes a re-queued task whose record already says finished does
 * not run it again.
 */
export class TaskLedgerLoop {
  /** Tasks whose final outcome was announced since the last flush (forgotten in a batch). */
  private readonly finished = new Set<string>();

  constructor(
    private readonly messaging: Messaging,
    private readonly ledger: TaskLedger,
    private readonly store: TaskStore,
    private readonly requeue: (task: PreparedTask) => Promise<TaskRecord>,
    private readonly options: TaskLedgerLoopOptions,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const finished = this.finished;
    const sub = this.messaging.nc.subscribe(this.messaging.ns.subject(taskSubjects.results));
    const listening = (async () => {
      // flotilla.tasks.<cluster>.<task>.completed|failed: a completion is final; a failure only
      // when it says so (the others are retried).
      for await (const m of sub) {
        const tokens = m.subject.split('.');
        const [taskId, outcome] = tokens.slice(-2);
        if (!taskId) continue;
        if (outcome === 'completed') finished.add(taskId);
        else if (outcome === 'failed' && finalFailure(m.data)) finished.add(taskId);
      }
    })();
    const state: LoopState = { mark: undefined, storeId: undefined };
    try {
      while (!signal.aborted) {
        const started = performance.now();
        if (finished.size) {
          const ids = [...finished];
          finished.clear();
          await this.ledger.forget(ids).catch((err: unknown) => {
            for (const id of ids) finished.add(id);
            this.options.logger?.warn(
              { err },
              'task ledger: finished tasks could not be forgotten yet',
            );
          });
        }
        await this.pass(state);
        const wait = Math.max(0, this.options.intervalMs - (performance.now() - started));
        await delay(wait, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      sub.unsubscribe();
      await listening.catch(() => undefined);
    }
  }

  /** One look at the ledger (exported through `run`; tests call it directly). */
  async pass(state: LoopState): Promise<LedgerPass> {
    const now = Date.now();
    const storeId = await this.storeIdentity();
    const storeReplaced = state.storeId !== undefined && storeId !== state.storeId;
    state.storeId = storeId;
    if (storeReplaced) {
      this.options.logger?.warn(
        { storeId },
        'task ledger: the NATS task store was replaced; looking at every unfinished task',
      );
      state.mark = undefined;
    }
    // After a replacement, even the youngest tasks may have lost their messages: look at all.
    const until = new Date(storeReplaced ? now : now - this.options.graceMs);
    const totals = { checked: 0, finished: 0, refed: 0, expired: 0 };
    for (;;) {
      const page = await this.ledger.accepted({ after: state.mark, until, limit: 256 });
      if (page.length === 0) break;
      const forget: string[] = [];
      await Promise.all(
        page.map(async (entry) => {
          const fate = await this.check(entry, now);
          totals.checked += 1;
          if (fate === 'finished' || fate === 'expired') forget.push(entry.taskId);
          if (fate !== 'in-nats') totals[fate] += 1;
        }),
      );
      await this.ledger.forget(forget);
      const last = page.at(-1)!;
      state.mark = { at: last.acceptedAt, taskId: last.taskId };
      if (page.length < 256) break;
    }
    // A pass that found the store's streams missing created them again (queuing what was lost):
    // remember them as they are now, not as missing, or the next pass would look at everything again.
    if (storeId.includes('missing')) state.storeId = await this.storeIdentity();
    if (totals.refed) this.options.onRefed?.(totals.refed);
    if (totals.refed || totals.expired)
      this.options.logger?.warn(
        { ...totals, storeReplaced },
        'task ledger: queued lost tasks again',
      );
    return { ...totals, storeReplaced };
  }

  private async check(
    entry: LedgerEntry,
    now: number,
  ): Promise<'finished' | 'in-nats' | 'refed' | 'expired'> {
    const found = await this.store.get(entry.taskId);
    if (found) return FINISHED.has(found.status) ? 'finished' : 'in-nats';
    // Finished while this pass was under way (an agent that ran it as the store was lost
    // announces it, without a record to write): not lost.
    if (this.finished.has(entry.taskId)) return 'finished';
    if (entry.acceptedAt.getTime() < now - this.options.retentionMs) return 'expired';
    await this.requeue({ record: entry.record, subject: entry.subject });
    return 'refed';
  }

  /** The creation times of the task stream and of the record bucket: they change when the store is replaced. */
  private async storeIdentity(): Promise<string> {
    const jsm = await this.messaging.jsm();
    const created = async (stream: string) => {
      try {
        return (await jsm.streams.info(stream)).created;
      } catch (err) {
        if (isMissingJetStreamResource(err)) return 'missing';
        throw err;
      }
    };
    const ns = this.messaging.ns;
    return `${await created(ns.stream(TASKS_STREAM))}/${await created(`KV_${ns.bucket(TASKS_BUCKET)}`)}`;
  }
}

/** What a leader remembers between passes. */
export interface LoopState {
  /** The last task looked at (accepted_at, task_id): the next pass starts after it. */
  mark: { at: Date; taskId: string } | undefined;
  /** The NATS store's identity at the last pass. */
  storeId: string | undefined;
}

function finalFailure(data: Uint8Array): boolean {
  try {
    return decodeJson<{ final?: boolean } | undefined>(data)?.final === true;
  } catch {
    return false;
  }
}
