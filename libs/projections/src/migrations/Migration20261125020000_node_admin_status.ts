import { Migration } from '@mikro-orm/migrations';

/**
 * A node's administrative state (active, cordoned, draining, drained) kept apart from its
 * liveness, so a cordoned or draining node that goes offline and comes back is still cordoned
 * or draining in the read model, not 'online'.
 */
export class Migration20261125020000_node_admin_status extends Migration {
  override up(): void {
    this.addSql(`ALTER TABLE cluster_nodes ADD COLUMN admin_status text NOT NULL DEFAULT 'active'`);
    this.addSql(`UPDATE cluster_nodes SET admin_status = status WHERE status IN ('cordoned', 'draining', 'drained')`);
  }

  override down(): void {
    this.addSql('ALTER TABLE cluster_nodes DROP COLUMN admin_status');
  }
}
