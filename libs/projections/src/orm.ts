import { MikroORM, type Options } from '@mikro-orm/postgresql';
import pg from 'pg';
import { Migrator } from '@mikro-orm/migrations';
import { READ_MODEL_ENTITIES } from './entities.js';
import { APP_ROLE, MIGRATIONS, TENANT_READER_ROLE } from './migrations/index.js';

export type ReadModelOrm = MikroORM;

export interface ReadModelOrmOptions {
  readonly url: string;
  readonly poolSize?: number;
  readonly debug?: boolean;
  /**
   * The role each pooled connection switches to (`SET ROLE`) before any query, starting in the
   * platform's scope ('*'); absent, queries run as the login of `url` (migrations, rebuilds).
   */
  readonly role?: string;
}

/** `SET ROLE` on a new connection: kysely's connection API runs compiled queries. */
interface SessionConnection {
  executeQuery(query: { readonly sql: string; readonly parameters: readonly unknown[]; readonly query: unknown; readonly queryId?: unknown }): Promise<unknown>;
}
const raw = (sql: string) => ({ sql, parameters: [], query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] } });

export function readModelOrmConfig(options: ReadModelOrmOptions): Options {
  const role = options.role;
  if (role !== undefined && !/^[a-z_][a-z0-9_]*$/.test(role)) throw new Error(`invalid role name '${role}'`);
  return {
    clientUrl: options.url,
    ...(role
      ? {
          // Every connection of the pool is the role's from its first query on, so no query the
          // service runs (an ORM call, a raw statement, a forgotten filter) is the owner's. The
          // platform's scope is the session default; withTenant narrows a transaction to one tenant.
          onCreateConnection: async (connection: unknown) => {
            const c = connection as SessionConnection;
            await c.executeQuery(raw(`SET ROLE ${role}`));
            await c.executeQuery(raw(`SELECT set_config('flotilla.tenant_id', '*', false)`));
          },
        }
      : {}),
    entities: READ_MODEL_ENTITIES,
    extensions: [Migrator],
    pool: { min: 0, max: options.poolSize ?? 10 },
    debug: options.debug ?? false,
    allowGlobalContext: false,
    migrations: {
      migrationsList: MIGRATIONS,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
      emit: 'ts',
    },
  };
}

/** Connects the read-model ORM (the schema is created by `migrateReadModels`, never by sync). */
export async function createReadModelOrm(options: ReadModelOrmOptions): Promise<ReadModelOrm> {
  return MikroORM.init(readModelOrmConfig(options));
}

/** Applies pending migrations; safe to run from every replica at start (they serialise on a lock). */
export async function migrateReadModels(orm: ReadModelOrm, url: string): Promise<string[]> {
  // Two replicas starting at once must not both run the same migration: a session advisory
  // lock on a connection of its own serialises them (the pool could hand lock and unlock to
  // different connections).
  const lock = new pg.Client({ connectionString: url });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(7406281)');
    const applied = await orm.migrator.up();
    return applied.map((m) => m.name);
  } finally {
    await lock.end();
  }
}

/**
 * A service's read models at start: every pending migration applied as the login of `url` (the
 * tables' owner; serialised across replicas), then the ORM the service queries through, whose
 * connections run as `flotilla_app` (APP_ROLE): not the owner, no BYPASSRLS, so row-level
 * security holds for every query it runs. `onApplied` hears which migrations ran, if any.
 */
export async function openReadModels(options: ReadModelOrmOptions & { onApplied?: (applied: string[]) => void }): Promise<ReadModelOrm> {
  const owner = await createReadModelOrm({ url: options.url, poolSize: 1 });
  let applied: string[];
  try {
    applied = await migrateReadModels(owner, options.url);
  } finally {
    await owner.close();
  }
  if (applied.length) options.onApplied?.(applied);
  return createReadModelOrm({ url: options.url, role: options.role ?? APP_ROLE, ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}) });
}

/**
 * Runs read-model queries for one tenant behind row-level security: in a transaction as the
 * `flotilla_tenant_reader` role (read-only) with `flotilla.tenant_id` set, so even a query whose
 * filter is wrong cannot return another tenant's rows. `undefined` (a caller spanning every
 * tenant) runs the queries in the connection's own scope: the platform's for a service's ORM.
 */
export async function withTenant<T>(orm: ReadModelOrm, tenantId: string | undefined, fn: (em: ReturnType<ReadModelOrm['em']['fork']>) => Promise<T>): Promise<T> {
  const em = orm.em.fork();
  if (tenantId === undefined) return fn(em);
  return em.transactional(async (tx) => {
    // One statement for both settings (`role` is the setting SET LOCAL ROLE changes): a tenant's
    // read costs BEGIN, this, its queries and COMMIT.
    await tx.execute(`SELECT set_config('role', '${TENANT_READER_ROLE}', true), set_config('flotilla.tenant_id', ?, true)`, [tenantId]);
    return fn(tx);
  });
}
