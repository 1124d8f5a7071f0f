import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@flotilla/testing';
import { ClusterEntity } from './entities.js';
import { APP_ROLE, READONLY_ROLE, TENANT_TABLES } from './migrations/index.js';
import { openReadModels, withTenant, type ReadModelOrm } from './orm.js';

/**
 * Row-level security is bypassed when the services query as the tables' owner
 * (a superuser in development), whom PostgreSQL exempts from every policy. These run queries
 * through the very connection a service gets (`openReadModels`) and check the policies hold for
 * it, with no WHERE clause of the application's to help.
 */
describe('row-level security holds for the role the services query as', () => {
  let db: TestDatabase;
  let orm: ReadModelOrm;
  let owner: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('rls_app');
    orm = await openReadModels({ url: db.url, poolSize: 2 });
    owner = new pg.Pool({ connectionString: db.url, max: 1 });
    for (const [id, tenant] of [['a-1', 'tenant-a'], ['a-2', 'tenant-a'], ['b-1', 'tenant-b']]) {
      await owner.query(
        `INSERT INTO clusters (id, tenant_id, name, type, status, blueprint_id, blueprint_version, min_workers, target_workers, max_workers, last_target,
           fixed_agents, keep_fixed_agents, monitoring_interval_s, policy, circuit, created_at, updated_at, revision, position)
         VALUES ($1, $2, $1, 'team', 'active', 'bp', '1.0.0', 0, 0, 0, 0, 1, true, 5, '{}', 'closed', now(), now(), 0, 1)`,
        [id, tenant],
      );
    }
  });

  afterAll(async () => {
    await orm?.close();
    await owner?.end();
    await db?.drop();
  });

  /** Runs statements in one transaction on the service's own ORM connection, then rolls it back. */
  const onServiceConnection = async <T>(fn: (sql: (q: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> => {
    const rollback = new Error('rollback');
    let result: T | undefined;
    try {
      await orm.em.fork().transactional(async (em) => {
        result = await fn((q) => em.execute<Record<string, unknown>[]>(q));
        throw rollback;
      });
    } catch (err) {
      if (err !== rollback) throw err;
    }
    return result as T;
  };
  const asTenant = (tenant: string, q: string) =>
    onServiceConnection(async (sql) => {
      await sql(`SELECT set_config('flotilla.tenant_id', '${tenant}', true)`);
      return sql(q);
    });

  it('connects the services as flotilla_app: not the tables’ owner, not a superuser, no BYPASSRLS', async () => {
    const [me] = await orm.em.fork().execute<{ name: string; super: boolean; bypass: boolean }[]>(
      `SELECT current_user AS name, rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user`,
    );
    expect(me).toEqual({ name: APP_ROLE, super: false, bypass: false });
    const owners = await orm.em.fork().execute<{ owner: string }[]>(`SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE tablename IN (?)`, [[...TENANT_TABLES]]);
    expect(owners.length).toBeGreaterThan(0);
    expect(owners.map((o) => o.owner)).not.toContain(APP_ROLE);
  });

  it("as tenant A, a query with no WHERE clause at all returns none of tenant B's rows", async () => {
    expect((await asTenant('tenant-a', `SELECT id FROM clusters ORDER BY id`)).map((r) => r['id'])).toEqual(['a-1', 'a-2']);
    expect((await asTenant('tenant-a', `SELECT id FROM clusters WHERE tenant_id = 'tenant-b'`)).map((r) => r['id'])).toEqual([]);
    // The same through the ORM, inside withTenant, with an empty filter.
    const viaOrm = (await withTenant(orm, 'tenant-b', (em) => em.find(ClusterEntity, {}))) as { id: string }[];
    expect(viaOrm.map((c) => c.id)).toEqual(['b-1']);
    // ...as the read-only tenant reader, whatever the query tries.
    expect(await withTenant(orm, 'tenant-b', (em) => em.execute<{ who: string }[]>(`SELECT current_user AS who`))).toEqual([{ who: 'flotilla_tenant_reader' }]);
    await expect(withTenant(orm, 'tenant-b', (em) => em.execute(`UPDATE clusters SET name = 'x' WHERE id = 'b-1'`))).rejects.toThrow(/permission denied/);
    // Without any tenant in scope nothing is visible; the services' own loops run in the platform's scope ('*').
    expect(await asTenant('', `SELECT id FROM clusters`)).toEqual([]);
    expect((await orm.em.fork().execute<{ id: string }[]>(`SELECT id FROM clusters ORDER BY id`)).map((r) => r.id)).toEqual(['a-1', 'a-2', 'b-1']);
  });

  it("as tenant A, cannot write a row of tenant B's, nor change B's rows", async () => {
    await expect(asTenant('tenant-a', `UPDATE clusters SET tenant_id = 'tenant-b' WHERE id = 'a-1'`)).rejects.toThrow(/row-level security/);
    expect(await asTenant('tenant-a', `UPDATE clusters SET name = 'stolen' WHERE id = 'b-1' RETURNING id`)).toEqual([]);
  });

  it('binds the tables’ owner too (FORCE ROW LEVEL SECURITY on every tenant table)', async () => {
    const { rows } = await owner.query<{ table: string; force: boolean }>(
      `SELECT relname AS table, relforcerowsecurity AS force FROM pg_class WHERE relname = ANY($1) ORDER BY 1`,
      [[...TENANT_TABLES, 'cluster_nodes']],
    );
    expect(rows.filter((r) => !r.force)).toEqual([]);
    expect(rows).toHaveLength(TENANT_TABLES.length + 1);
  });

  it('gives dashboards a read-only role: it reads, it never writes', async () => {
    const client = await owner.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${READONLY_ROLE}`);
      await client.query(`SELECT set_config('flotilla.tenant_id', '*', true)`);
      expect((await client.query(`SELECT count(*)::int AS n FROM clusters`)).rows[0]).toEqual({ n: 3 });
      await expect(client.query(`DELETE FROM clusters`)).rejects.toThrow(/permission denied/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    const { rows } = await owner.query<{ super: boolean; bypass: boolean; login: boolean }>(
      `SELECT rolsuper AS super, rolbypassrls AS bypass, rolcanlogin AS login FROM pg_roles WHERE rolname = $1`,
      [READONLY_ROLE],
    );
    expect(rows).toEqual([{ super: false, bypass: false, login: false }]);
  });
});
