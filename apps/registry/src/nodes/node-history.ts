import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import type { AsOf, Moment } from '@flotilla/contracts';
import { nodeDecider } from '@flotilla/domain';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { EVENT_STORE, PG_POOL } from '@flotilla/platform';
import { DIRECTORY_CATEGORIES } from './directory-feed.js';
import { isNodeStream, NodeDirectory, type DirectorySnapshot } from './node-directory.js';
import { evolveSettings, REGISTRY_SETTINGS_STREAM } from '../settings/registry-settings.decider.js';

const PAGE = 1000;

/**
 * Every how many events of the fleet's log (the node and registry streams together) a snapshot
 * of the directory is kept: a read of the past folds at most this many events after loading one.
 * Larger than a cluster's 250: a node event is cheap to fold, and a snapshot holds every node.
 */
export const FLEET_SNAPSHOT_EVERY = 2000n;
/** The snapshots' key in `stream_snapshots`: not a stream of the store, the node categories' sub-log. */
export const FLEET_SNAPSHOT_STREAM = '$fleet';
/**
 * What folded a snapshot: a format number raised by hand when its shape changes, and a fingerprint
 * of the folds (the node decider's and the settings' evolve, the directory's own application)
 * that catches an edit of theirs that forgot to. A snapshot of another version is never read.
 */
const SNAPSHOT_FORMAT = 1;
export const FLEET_SNAPSHOT_VERSION = `${SNAPSHOT_FORMAT}-${createHash('sha256')
  .update([nodeDecider.evolve, evolveSettings, NodeDirectory.prototype.applyStored, NodeDirectory.prototype.applySettings].map(String).join('\n'))
  .digest('hex')
  .slice(0, 12)}`;

interface FleetSnapshot {
  /** How many events of the fleet's log it has folded (its ordinal in that sub-log). */
  readonly count: string;
  readonly position: string;
  readonly occurredAt: string | null;
  readonly directory: DirectorySnapshot;
}

export interface NodeHistoryOptions {
  /** Start from the nearest stored snapshot, and store the ones the fold passes (default true). */
  readonly snapshots?: boolean;
}

/**
 * The fleet as it was at any moment of the log (`?at=` on the node and assignment reads): a
 * fresh NodeDirectory fed the node and registry streams up to that moment, exactly as a replica's
 * own directory is fed from the log, so "now" and "then" are built by the same code. What the
 * log does not hold is absent from it: heartbeat readings (usage, health, last heartbeat) and
 * in-flight reservations.
 *
 * It starts from the nearest snapshot at or before the moment (`stream_snapshots`, one every
 * FLEET_SNAPSHOT_EVERY events of the fleet's log, stored by the reads that pass them), so a read
 * folds at most that many events whatever the length of the history. Snapshots are a cache of
 * the log: safe to truncate, rebuilt by later reads.
 */
@Injectable()
export class NodeHistory {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  async at(moment: Moment, opts: NodeHistoryOptions = {}): Promise<{ directory: NodeDirectory; asOf: AsOf; folded: number }> {
    const useSnapshots = opts.snapshots ?? true;
    const snapshot = useSnapshots ? await this.snapshotBefore(moment) : null;
    const directory = snapshot ? NodeDirectory.fromSnapshot(snapshot.directory) : new NodeDirectory();
    let count = snapshot ? BigInt(snapshot.count) : 0n;
    let last: AsOf = snapshot ? { position: snapshot.position, occurred_at: snapshot.occurredAt } : { position: '0', occurred_at: null };
    let after = snapshot ? BigInt(snapshot.position) : 0n;
    let folded = 0;
    const passed: FleetSnapshot[] = [];
    const done = async () => {
      if (passed.length) await this.save(passed);
      return { directory, asOf: last, folded };
    };
    for (;;) {
      const page = await this.store.readAll({ after, limit: PAGE, categories: DIRECTORY_CATEGORIES });
      for (const e of page) {
        if (isAfter(e, moment)) return done();
        if (isNodeStream(e.streamId)) directory.applyStored(e, 0);
        else if (e.streamId === REGISTRY_SETTINGS_STREAM) directory.applySettings(e);
        last = asOfEvent(e);
        folded++;
        count++;
        if (useSnapshots && count % FLEET_SNAPSHOT_EVERY === 0n) {
          passed.push({ count: count.toString(), position: last.position, occurredAt: last.occurred_at, directory: directory.toSnapshot() });
        }
      }
      if (page.length < PAGE) return done();
      after = page[page.length - 1]!.position;
    }
  }

  private async snapshotBefore(moment: Moment): Promise<FleetSnapshot | null> {
    const [column, value] = 'position' in moment ? ['position', moment.position.toString()] : ['occurred_at', moment.time];
    const { rows } = await this.pool.query<{ state: FleetSnapshot }>(
      `SELECT state FROM stream_snapshots WHERE stream_id = $1 AND version = $2 AND ${column} <= $3 ORDER BY revision DESC LIMIT 1`,
      [FLEET_SNAPSHOT_STREAM, FLEET_SNAPSHOT_VERSION, value],
    );
    return rows[0]?.state ?? null;
  }

  private async save(snapshots: readonly FleetSnapshot[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO stream_snapshots (stream_id, version, revision, position, occurred_at, tenant_id, state)
       SELECT $1, $2, (s.state->>'count')::bigint, (s.state->>'position')::bigint, (s.state->>'occurredAt')::timestamptz, NULL, s.state
         FROM jsonb_to_recordset($3::jsonb) AS s(state jsonb)
       ON CONFLICT DO NOTHING`,
      [FLEET_SNAPSHOT_STREAM, FLEET_SNAPSHOT_VERSION, JSON.stringify(snapshots.map((state) => ({ state })))],
    );
  }
}

const isAfter = (e: StoredEvent, m: Moment) => ('position' in m ? e.position > m.position : e.occurredAt.getTime() > m.time.getTime());
const asOfEvent = (e: StoredEvent): AsOf => ({ position: e.position.toString(), occurred_at: e.occurredAt.toISOString() });
