import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE } from './Migration20261125030000_app_roles.js';

/**
 * Snapshots for reads of the past (`?at=`): a stream's folded state every N events, under the
 * version of the code that folded it (a snapshot of another version is never read). A cache of
 * the log, not a read model of a tenant: it is read and written only by the orchestrator's
 * history reads, which check the folded cluster's tenant as live reads do, so it has no
 * row-level policy. Safe to truncate at any time: reads rebuild it.
 */
export class Migration20261206010000_stream_snapshots extends Migration {
  override up(): void {
    this.addSql(`CREATE TABLE stream_snapshots (
      stream_id   text        NOT NULL,
      version     text        NOT NULL,
      revision    bigint      NOT NULL,
      position    bigint      NOT NULL,
      occurred_at timestamptz,
      tenant_id   text,
      state       jsonb       NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (stream_id, version, revision)
    )`);
    this.addSql('CREATE INDEX stream_snapshots_position_index ON stream_snapshots (stream_id, version, position)');
    this.addSql('CREATE INDEX stream_snapshots_time_index ON stream_snapshots (stream_id, version, occurred_at)');
    this.addSql(`GRANT SELECT, INSERT, DELETE ON stream_snapshots TO ${APP_ROLE}`);
  }

  override down(): void {
    this.addSql('DROP TABLE stream_snapshots');
  }
}
