import { Migration } from '@mikro-orm/migrations';

/**
 * Event history per tenant: SSE and gRPC watchers of one tenant replay its events from
 * `cluster_events` (row-level security, this index) instead of reading every tenant's events from
 * the JetStream stream; the revision makes a replayed event the same as a live one. Rows projected
 * before this migration have no revision until the projection is rebuilt
 * (`npm run flotilla -- rebuild cluster_events`).
 */
export class Migration20261206000000_event_history extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE cluster_events ADD COLUMN revision bigint');
    this.addSql('CREATE INDEX cluster_events_tenant_position_index ON cluster_events (tenant_id, position)');
  }

  override down(): void {
    this.addSql('DROP INDEX cluster_events_tenant_position_index');
    this.addSql('ALTER TABLE cluster_events DROP COLUMN revision');
  }
}
