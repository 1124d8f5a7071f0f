import { Migration } from '@mikro-orm/migrations';
import { TENANT_READER_ROLE } from './Migration20261125010000_access.js';
import { APP_ROLE, READONLY_ROLE } from './Migration20261125030000_app_roles.js';

/**
 * Rolling upgrades:
 * - `clusters.rollout`: the cluster's last rollout (its versions, limits, waves, status and
 *   reason), as the cluster view shows it;
 * - `cluster_agents.blueprint_version`: the blueprint version whose spec each agent runs (null for
 *   agents spawned before rollouts were recorded);
 * - `tenant_budgets`: each tenant's budgets (amount, currency, period, action) and their last
 *   crossings, which the metrics service's budget watch checks against the tenant's spend.
 * Row-level security as on every tenant table.
 */
export class Migration20261206040000_rollouts extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE clusters ADD COLUMN rollout jsonb');
    this.addSql('ALTER TABLE cluster_agents ADD COLUMN blueprint_version text');
    this.addSql(`CREATE TABLE tenant_budgets (
      tenant_id text PRIMARY KEY,
      budgets jsonb NOT NULL,
      crossings jsonb NOT NULL,
      updated_at timestamptz NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_budgets TO ${APP_ROLE}`);
    this.addSql(`GRANT SELECT ON tenant_budgets TO ${READONLY_ROLE}, ${TENANT_READER_ROLE}`);
    this.addSql('ALTER TABLE tenant_budgets ENABLE ROW LEVEL SECURITY');
    this.addSql('ALTER TABLE tenant_budgets FORCE ROW LEVEL SECURITY');
    this.addSql(
      `CREATE POLICY tenant_isolation ON tenant_budgets USING (current_setting('flotilla.tenant_id', true) = '*' OR tenant_id = current_setting('flotilla.tenant_id', true))`,
    );
  }

  override down(): void {
    this.addSql('DROP TABLE IF EXISTS tenant_budgets');
    this.addSql('ALTER TABLE cluster_agents DROP COLUMN blueprint_version');
    this.addSql('ALTER TABLE clusters DROP COLUMN rollout');
  }
}
