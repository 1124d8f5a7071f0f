import { Migration } from '@mikro-orm/migrations';
import { TENANT_TABLES } from './Migration20261125010000_access.js';

/** The role every service's read-model queries run as (`SET ROLE` on each pooled connection). */
export const APP_ROLE = 'flotilla_app';
/** A read-only role for dashboards (Grafana's login role is a member of it). */
export const READONLY_ROLE = 'flotilla_readonly';

/** Every table the services read or write through the read-model ORM. */
const READ_MODEL_TABLES = [...TENANT_TABLES, 'cluster_nodes', 'projection_checkpoints'] as const;

/**
 * Runs a statement that creates or grants something cluster-wide, once, whichever database
 * migrates first: roles (and memberships) are shared by every database of the server, and
 * several test databases migrate at the same moment. A concurrent creator makes the loser
 * fail with duplicate_object (it saw the committed row) or unique_violation (it raced the
 * insert); either way the role is there, which is all this needs.
 */
const once = (statement: string) =>
  `DO $$ BEGIN ${statement}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`;

/**
 * Row-level security that holds for the role the services use. Until now services queried as
 * the login of DATABASE_URL (the tables' owner, a superuser in development), which PostgreSQL
 * exempts from every policy: only `withTenant`'s own role switch kept tenants apart. Now:
 * - `flotilla_app` (NOLOGIN, NOSUPERUSER, NOBYPASSRLS, not the owner) may read and write the
 *   read models and nothing else; the services' ORM connections `SET ROLE` to it, so every query
 *   they run, whatever its WHERE clause, sees only the rows of the tenant in
 *   `flotilla.tenant_id` ('*' is the platform's scope, which the connections start in).
 * - FORCE ROW LEVEL SECURITY: the policies bind the tables' owner too, unless it is a superuser
 *   or has BYPASSRLS (the projector writes every tenant's rows as the owner, so the owner needs
 *   one of those; see deploy/README.md).
 * - `flotilla_readonly`: SELECT only, for dashboards.
 * Roles are never dropped on the way down: other databases of the server may use them.
 */
export class Migration20261125030000_app_roles extends Migration {
  override up(): void {
    this.addSql(once(`CREATE ROLE ${APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT NOCREATEDB NOCREATEROLE`));
    this.addSql(once(`CREATE ROLE ${READONLY_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`));
    // A role of that name made elsewhere with more rights would defeat the point: take them away.
    for (const role of [APP_ROLE, READONLY_ROLE]) {
      this.addSql(
        `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}' AND (rolsuper OR rolbypassrls OR rolcanlogin)) THEN ALTER ROLE ${role} NOSUPERUSER NOBYPASSRLS NOLOGIN; END IF; END $$`,
      );
    }
    // The login that migrates (and runs the services) must be allowed to SET ROLE to it.
    this.addSql(
      `DO $$ BEGIN IF NOT pg_has_role(current_user, '${APP_ROLE}', 'MEMBER') THEN EXECUTE format('GRANT ${APP_ROLE} TO %I', current_user); END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
    );
    this.addSql(`GRANT USAGE ON SCHEMA public TO ${APP_ROLE}, ${READONLY_ROLE}`);
    for (const table of READ_MODEL_TABLES) {
      this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`);
      this.addSql(`GRANT SELECT ON ${table} TO ${READONLY_ROLE}`);
    }
    this.addSql(`GRANT USAGE, SELECT ON SEQUENCE cluster_metrics_id_seq TO ${APP_ROLE}`);
    for (const table of [...TENANT_TABLES, 'cluster_nodes']) this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
  }

  override down(): void {
    for (const table of [...TENANT_TABLES, 'cluster_nodes']) this.addSql(`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`);
    this.addSql(`REVOKE USAGE, SELECT ON SEQUENCE cluster_metrics_id_seq FROM ${APP_ROLE}`);
    for (const table of READ_MODEL_TABLES) {
      this.addSql(`REVOKE SELECT, INSERT, UPDATE, DELETE ON ${table} FROM ${APP_ROLE}`);
      this.addSql(`REVOKE SELECT ON ${table} FROM ${READONLY_ROLE}`);
    }
    this.addSql(`REVOKE USAGE ON SCHEMA public FROM ${APP_ROLE}, ${READONLY_ROLE}`);
  }
}
