import { Migration } from '@mikro-orm/migrations';

/**
 * What each raw metrics snapshot was read as, kept beside it:
 * - `scaling`: what the autoscaler read (the cluster's target, bounds, status, policy and scale
 *   times beside its load), so a replay of a scaling policy over recorded load (`POST
 *   /api/clusters/{id}/simulate`) is fed exactly what the autoscaler was;
 * - `health`: the cluster's health as the health endpoint answered it then (score, status,
 *   components, recommendations, nodes), for `GET /api/clusters/{id}/health?at=`.
 * Minute rollups have neither: an average of readings is not a reading.
 */
export class Migration20261206020000_snapshot_readings extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE cluster_metrics ADD COLUMN scaling jsonb, ADD COLUMN health jsonb');
  }

  override down(): void {
    this.addSql('ALTER TABLE cluster_metrics DROP COLUMN scaling, DROP COLUMN health');
  }
}
