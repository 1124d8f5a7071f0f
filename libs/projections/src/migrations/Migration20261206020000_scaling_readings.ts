import { Migration } from '@mikro-orm/migrations';

/**
 * What the autoscaler read of each raw metrics snapshot (the cluster's target, bounds, status,
 * policy and scale times beside its load), so a replay of a scaling policy over recorded load
 * (`POST /api/clusters/{id}/simulate`) is fed exactly what the autoscaler was. Minute rollups
 * have none: an average of readings is not a reading.
 */
export class Migration20261206020000_scaling_readings extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE cluster_metrics ADD COLUMN scaling jsonb');
  }

  override down(): void {
    this.addSql('ALTER TABLE cluster_metrics DROP COLUMN scaling');
  }
}
