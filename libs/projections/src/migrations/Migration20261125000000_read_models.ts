import { Migration } from '@mikro-orm/migrations';

/** The first read models: clusters, agents, blueprints (+ versions), nodes, placements, the audit trail, metrics, checkpoints. */
export class Migration20261125000000_read_models extends Migration {
  override up(): void {
    this.addSql(`CREATE TABLE clusters (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      type text NOT NULL,
      status text NOT NULL,
      blueprint_id text NOT NULL,
      blueprint_version text NOT NULL,
      min_workers integer NOT NULL,
      target_workers integer NOT NULL,
      max_workers integer NOT NULL,
      last_target integer NOT NULL,
      fixed_agents integer NOT NULL,
      keep_fixed_agents boolean NOT NULL,
      monitoring_interval_s integer NOT NULL,
      last_scale_up_at timestamptz,
      last_scale_down_at timestamptz,
      policy jsonb NOT NULL,
      backup_cluster text,
      circuit text NOT NULL DEFAULT 'closed',
      degraded_reason text,
      last_decision jsonb,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      revision integer NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX clusters_tenant_id_index ON clusters (tenant_id)');
    this.addSql('CREATE INDEX clusters_status_index ON clusters (status)');

    this.addSql(`CREATE TABLE cluster_agents (
      id text PRIMARY KEY,
      cluster_id text NOT NULL,
      tenant_id text NOT NULL,
      name text NOT NULL,
      role text NOT NULL,
      ordinal integer NOT NULL,
      state text NOT NULL,
      node_id text,
      capabilities jsonb NOT NULL,
      runtime jsonb NOT NULL,
      reports_to text,
      spec_hash text NOT NULL,
      resources jsonb NOT NULL,
      reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX cluster_agents_cluster_id_index ON cluster_agents (cluster_id)');
    this.addSql('CREATE INDEX cluster_agents_node_id_index ON cluster_agents (node_id)');

    this.addSql(`CREATE TABLE cluster_blueprints (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      name text NOT NULL,
      latest_version text NOT NULL,
      latest_hash text NOT NULL,
      status text NOT NULL,
      deprecation_reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX cluster_blueprints_tenant_id_index ON cluster_blueprints (tenant_id)');

    this.addSql(`CREATE TABLE cluster_blueprint_versions (
      id text PRIMARY KEY,
      blueprint_id text NOT NULL,
      tenant_id text NOT NULL,
      version text NOT NULL,
      hash text NOT NULL,
      document jsonb NOT NULL,
      created_at timestamptz NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX cluster_blueprint_versions_blueprint_id_index ON cluster_blueprint_versions (blueprint_id)');

    this.addSql(`CREATE TABLE cluster_nodes (
      id text PRIMARY KEY,
      tenant_id text,
      hostname text NOT NULL,
      address text NOT NULL,
      region text NOT NULL,
      zone text NOT NULL,
      labels jsonb NOT NULL,
      services jsonb NOT NULL,
      capacity jsonb NOT NULL,
      role text NOT NULL,
      priority integer NOT NULL,
      status text NOT NULL,
      status_reason text,
      agents jsonb NOT NULL,
      registered_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX cluster_nodes_status_index ON cluster_nodes (status)');

    this.addSql(`CREATE TABLE placements (
      agent_id text PRIMARY KEY,
      cluster_id text NOT NULL,
      node_id text NOT NULL,
      tenant_id text,
      resources jsonb NOT NULL,
      status text NOT NULL,
      assigned_at timestamptz NOT NULL,
      released_at timestamptz,
      position bigint NOT NULL
    )`);
    this.addSql('CREATE INDEX placements_cluster_id_index ON placements (cluster_id)');
    this.addSql('CREATE INDEX placements_node_id_index ON placements (node_id)');

    this.addSql(`CREATE TABLE cluster_events (
      position bigint PRIMARY KEY,
      event_id uuid NOT NULL UNIQUE,
      stream_id text NOT NULL,
      aggregate text NOT NULL,
      aggregate_id text NOT NULL,
      cluster_id text,
      type text NOT NULL,
      severity text NOT NULL,
      actor text NOT NULL,
      tenant_id text NOT NULL,
      occurred_at timestamptz NOT NULL,
      data jsonb NOT NULL,
      metadata jsonb NOT NULL
    )`);
    this.addSql('CREATE INDEX cluster_events_cluster_id_position_index ON cluster_events (cluster_id, position)');
    this.addSql('CREATE INDEX cluster_events_tenant_actor_index ON cluster_events (tenant_id, actor)');
    this.addSql('CREATE INDEX cluster_events_occurred_at_index ON cluster_events (occurred_at)');

    this.addSql(`CREATE TABLE cluster_metrics (
      id bigserial PRIMARY KEY,
      cluster_id text NOT NULL,
      tenant_id text NOT NULL,
      at timestamptz NOT NULL,
      resolution text NOT NULL,
      queue_depth integer NOT NULL,
      queue_high integer NOT NULL,
      queue_normal integer NOT NULL,
      queue_low integer NOT NULL,
      agents_active integer NOT NULL,
      agents_idle integer NOT NULL,
      agents_busy integer NOT NULL,
      agents_failed integer NOT NULL,
      workers integer NOT NULL,
      tasks_per_minute double precision NOT NULL,
      latency_p50_ms double precision,
      latency_p95_ms double precision,
      latency_p99_ms double precision,
      error_rate double precision NOT NULL,
      cpu_percent double precision,
      memory_percent double precision,
      health_score double precision,
      samples integer NOT NULL DEFAULT 1
    )`);
    this.addSql('CREATE INDEX cluster_metrics_cluster_at_index ON cluster_metrics (cluster_id, resolution, at)');

    this.addSql(`CREATE TABLE projection_checkpoints (
      name text PRIMARY KEY,
      position bigint NOT NULL,
      rebuilding boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL
    )`);
  }

  override down(): void {
    for (const table of [
      'projection_checkpoints',
      'cluster_metrics',
      'cluster_events',
      'placements',
      'cluster_nodes',
      'cluster_blueprint_versions',
      'cluster_blueprints',
      'cluster_agents',
      'clusters',
    ]) {
      this.addSql(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
