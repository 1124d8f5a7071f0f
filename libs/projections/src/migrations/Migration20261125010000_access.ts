import { Migration } from '@mikro-orm/migrations';

/** Tables whose rows belong to one tenant, and the column saying which. */
export const TENANT_TABLES = [
  'clusters',
  'cluster_agents',
  'cluster_blueprints',
  'cluster_blueprint_versions',
  'placements',
  'cluster_events',
  'cluster_metrics',
  'api_keys',
] as const;

export const TENANT_READER_ROLE = 'flotilla_tenant_reader';

/**
 * API keys, and row-level security as a second wall behind the services' own tenant filters:
 * a query run as `flotilla_tenant_reader` with `flotilla.tenant_id` set sees only that tenant's
 * rows, whatever its WHERE clause says ('*' sees all, for admins spanning tenants). Nodes without
 * a tenant are shared and visible to all.
 */
export class Migration20261125010000_access extends Migration {
  override up(): void {
    this.addSql(`CREATE TABLE api_keys (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      role text NOT NULL,
      name text NOT NULL,
      secret_hash text NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL,
      revoked_at timestamptz,
      revoked_reason text,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX api_keys_tenant_id_index ON api_keys (tenant_id)');
    // Roles are cluster-wide: create it once, whatever database migrates first.
    this.addSql(`DO $$ BEGIN CREATE ROLE ${TENANT_READER_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    this.addSql(`GRANT ${TENANT_READER_ROLE} TO CURRENT_USER`);
    const visible = `current_setting('flotilla.tenant_id', true) = '*' OR tenant_id = current_setting('flotilla.tenant_id', true)`;
    for (const table of TENANT_TABLES) {
      this.addSql(`GRANT SELECT ON ${table} TO ${TENANT_READER_ROLE}`);
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      this.addSql(`CREATE POLICY tenant_isolation ON ${table} USING (${visible})`);
    }
    this.addSql(`GRANT SELECT ON cluster_nodes TO ${TENANT_READER_ROLE}`);
    this.addSql('ALTER TABLE cluster_nodes ENABLE ROW LEVEL SECURITY');
    this.addSql(`CREATE POLICY tenant_isolation ON cluster_nodes USING (tenant_id IS NULL OR ${visible})`);
  }

  override down(): void {
    for (const table of [...TENANT_TABLES.filter((t) => t !== 'api_keys'), 'cluster_nodes']) {
      this.addSql(`DROP POLICY IF EXISTS tenant_isolation ON ${table}`);
      this.addSql(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
      this.addSql(`REVOKE SELECT ON ${table} FROM ${TENANT_READER_ROLE}`);
    }
    this.addSql('DROP TABLE IF EXISTS api_keys');
  }
}
