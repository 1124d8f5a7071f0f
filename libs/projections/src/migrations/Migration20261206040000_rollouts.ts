import { Migration } from '@mikro-orm/migrations';

/**
 * Rolling upgrades:
 * - `clusters.rollout`: the cluster's last rollout (its versions, limits, waves, status and
 *   reason), as the cluster view shows it;
 * - `cluster_agents.blueprint_version`: the blueprint version whose spec each agent runs (null for
 *   agents spawned before rollouts were recorded).
 */
export class Migration20261206040000_rollouts extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE clusters ADD COLUMN rollout jsonb');
    this.addSql('ALTER TABLE cluster_agents ADD COLUMN blueprint_version text');
  }

  override down(): void {
    this.addSql('ALTER TABLE cluster_agents DROP COLUMN blueprint_version');
    this.addSql('ALTER TABLE clusters DROP COLUMN rollout');
  }
}
