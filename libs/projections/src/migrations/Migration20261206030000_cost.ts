import { Migration } from '@mikro-orm/migrations';
import { TENANT_READER_ROLE } from './Migration20261125010000_access.js';
import { APP_ROLE, READONLY_ROLE } from './Migration20261125030000_app_roles.js';

/**
 * Cost and lineage:
 * - `clusters.pricing` and `clusters.budgets`: the blueprint's resolved pricing (agent-hours by
 *   role or runtime, tokens by model) and budgets (amount, period, action);
 * - `cluster_agents.started_at / stopped_at`: each agent's first start and its stop or failure,
 *   from the lifecycle events: its agent-hours;
 * - `task_attempts`: every task attempt that ended, as the node agent that ran it recorded it
 *   (agent, spec hash, blueprint version, node, runtime, endpoint, duration, tokens, cost,
 *   outcome); the metrics service writes it from the FLOTILLA_TASK_OUTCOMES stream, once per
 *   (task, attempt). It answers cost per cluster and tenant, and tasks and metrics by version.
 * Row-level security as on every tenant table.
 */
export class Migration20261206030000_cost extends Migration {
  override up(): void {
    this.addSql('ALTER TABLE clusters ADD COLUMN pricing jsonb, ADD COLUMN budgets jsonb');
    this.addSql('ALTER TABLE cluster_agents ADD COLUMN started_at timestamptz, ADD COLUMN stopped_at timestamptz');
    this.addSql('CREATE INDEX cluster_agents_cluster_started_index ON cluster_agents (cluster_id, started_at) WHERE started_at IS NOT NULL');
    this.addSql(`CREATE TABLE task_attempts (
      task_id text NOT NULL,
      attempt integer NOT NULL,
      cluster_id text NOT NULL,
      task_cluster_id text NOT NULL,
      tenant_id text NOT NULL,
      agent_id text NOT NULL,
      node_id text NOT NULL,
      spec_hash text,
      blueprint_version text,
      runtime text NOT NULL,
      endpoint text NOT NULL,
      model text,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL,
      duration_ms integer NOT NULL,
      input_tokens integer,
      output_tokens integer,
      cost numeric NOT NULL,
      currency text,
      outcome text NOT NULL,
      error text,
      PRIMARY KEY (task_id, attempt)
    )`);
    this.addSql('CREATE INDEX task_attempts_cluster_index ON task_attempts (cluster_id, finished_at)');
    this.addSql('CREATE INDEX task_attempts_version_index ON task_attempts (cluster_id, blueprint_version, finished_at)');
    this.addSql('CREATE INDEX task_attempts_tenant_index ON task_attempts (tenant_id, finished_at)');
    this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON task_attempts TO ${APP_ROLE}`);
    this.addSql(`GRANT SELECT ON task_attempts TO ${READONLY_ROLE}, ${TENANT_READER_ROLE}`);
    this.addSql('ALTER TABLE task_attempts ENABLE ROW LEVEL SECURITY');
    this.addSql('ALTER TABLE task_attempts FORCE ROW LEVEL SECURITY');
    this.addSql(
      `CREATE POLICY tenant_isolation ON task_attempts USING (current_setting('flotilla.tenant_id', true) = '*' OR tenant_id = current_setting('flotilla.tenant_id', true))`,
    );
  }

  override down(): void {
    this.addSql('DROP TABLE IF EXISTS task_attempts');
    this.addSql('DROP INDEX IF EXISTS cluster_agents_cluster_started_index');
    this.addSql('ALTER TABLE cluster_agents DROP COLUMN started_at, DROP COLUMN stopped_at');
    this.addSql('ALTER TABLE clusters DROP COLUMN pricing, DROP COLUMN budgets');
  }
}
