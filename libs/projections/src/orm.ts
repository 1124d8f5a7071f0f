import { MikroORM, type Options } from '@mikro-orm/postgresql';
import pg from 'pg';
import { Migrator } from '@mikro-orm/migrations';
import { READ_MODEL_ENTITIES } from './entities.js';
import { MIGRATIONS, TENANT_READER_ROLE } from './migrations/index.js';

export type ReadModelOrm = MikroORM;

export interface ReadModelOrmOptions {
  readonly url: string;
  readonly poolSize?: number;
  readonly debug?: boolean;
}

export function readModelOrmConfig(options: ReadModelOrmOptions): Options {
  return {
    clientUrl: options.url,
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
 * A service's read models at start: the ORM, with every pending migration applied (serialised
 * across replicas); `onApplied` hears which, when there were any.
 */
export async function openReadModels(options: ReadModelOrmOptions & { onApplied?: (applied: string[]) => void }): Promise<ReadModelOrm> {
  const orm = await createReadModelOrm({ url: options.url, ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}) });
  const applied = await migrateReadModels(orm, options.url);
  if (applied.length) options.onApplied?.(applied);
  return orm;
}

/**
 * Runs read-model queries for one tenant behind row-level security: in a transaction as the
 * `flotilla_tenant_reader` role with `flotilla.tenant_id` set, so even a query whose filter is
 * wrong cannot return another tenant's rows. `undefined` (a caller spanning every tenant) runs
 * the queries as they are.
 */
export async function withTenant<T>(orm: ReadModelOrm, tenantId: string | undefined, fn: (em: ReturnType<ReadModelOrm['em']['fork']>) => Promise<T>): Promise<T> {
  const em = orm.em.fork();
  if (tenantId === undefined) return fn(em);
  return em.transactional(async (tx) => {
    await tx.execute(`SET LOCAL ROLE ${TENANT_READER_ROLE}`);
    await tx.execute(`SELECT set_config('flotilla.tenant_id', ?, true)`, [tenantId]);
    return fn(tx);
  });
}
