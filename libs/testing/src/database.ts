import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests use: TEST_DATABASE_URL, else DATABASE_URL, else the local
 * default. Only the server part matters: each test run creates its own database on it.
 */
export function testServerUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['TEST_DATABASE_URL'] || env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres';
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Drops the database (terminating any connection still open to it). */
  drop(): Promise<void>;
}

function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database for one test file (or one run), named so that leftovers of a
 * crashed run are recognisable (`flotilla_t_<pid>_<random>`) and can be swept.
 */
export async function createTestDatabase(label = 't', serverUrl = testServerUrl()): Promise<TestDatabase> {
  const name = `flotilla_${label.replace(/[^a-z0-9_]/g, '_').slice(0, 20)}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: withDatabase(serverUrl, name),
    drop: () =>
      admin(serverUrl, async (c) => {
        // Connections the test closed can still be on their way out; forcing them would make a
        // closing client report "terminating connection due to administrator command".
        const until = Date.now() + 5000;
        while (Date.now() < until) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0]!.n === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }).then(() => undefined),
  };
}

/** Drops test databases left behind by runs whose process no longer exists. */
export async function sweepStaleTestDatabases(serverUrl = testServerUrl()): Promise<string[]> {
  return admin(serverUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname ~ '^flotilla_[a-z0-9_]+_[0-9]+_[0-9a-f]{8}$'`,
    );
    const dropped: string[] = [];
    for (const { datname } of rows) {
      const pid = Number(/_(\d+)_[0-9a-f]{8}$/.exec(datname)?.[1]);
      if (pid && isAlive(pid)) continue;
      await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      dropped.push(datname);
    }
    return dropped;
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
