/**
 * Event store benchmark: the PostgreSQL adapter against Emmett's PostgreSQL event store and a
 * floor of bare `pg` inserts into a plain table, the same workloads on one fresh database, so
 * the figures are ratios rather than absolutes.
 *
 *   npm run bench:eventstore              (from the repository root)
 *
 * Environment (all optional): BENCH_APPENDS (single-event appends per line, 5000),
 * BENCH_WRITERS (16), BENCH_BATCHES (100-event batches, 100), BENCH_BATCH_SIZE (100),
 * BENCH_MAX_SECONDS (cap per line and subject, 20), BENCH_JSON (write the JSON document to this
 * file as well), TEST_DATABASE_URL / DATABASE_URL (the server; a database is created and dropped).
 */
import { writeFile } from 'node:fs/promises';
import { dumbo, endAllPools } from '@event-driven-io/dumbo';
import { getPostgreSQLEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql';
// The benchmark measures the built package through its public entry point, as a service uses it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { PostgresEventStore, type EventMetadata } from '@flotilla/eventstore';
import { createTestDatabase } from '@flotilla/testing';
import pg from 'pg';

const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer (got ${raw})`);
  return value;
};

const APPENDS = int('BENCH_APPENDS', 5_000);
const WRITERS = int('BENCH_WRITERS', 16);
const BATCHES = int('BENCH_BATCHES', 100);
const BATCH_SIZE = int('BENCH_BATCH_SIZE', 100);
const MAX_SECONDS = int('BENCH_MAX_SECONDS', 20);
const READ_PAGE = 1_000;
const POOL_SIZE = WRITERS;

const metadata: EventMetadata = {
  tenantId: 'tenant-bench',
  actor: 'bench',
  correlationId: '0192f0c1-0000-7000-8000-000000000000',
  causationId: null,
  traceparent: null,
  schemaVersion: 1,
};
const data = (i: number): Record<string, unknown> => ({
  i,
  cluster: 'cluster-bench',
  workers: i % 17,
  note: 'scaled up after queue depth crossed the threshold',
});

/** One workload driver per contender: append(stream, count) and a full read of everything written. */
interface Subject {
  readonly name: string;
  append(streamId: string, count: number, seq: number): Promise<void>;
  readAllCount(): Promise<number>;
  close(): Promise<void>;
}

async function flotilla(url: string): Promise<Subject> {
  const store = new PostgresEventStore({ url, schema: 'flotilla_bench', poolSize: POOL_SIZE });
  await store.ensureSchema();
  return {
    name: 'flotilla',
    append: async (streamId, count, seq) => {
      await store.append(
        streamId,
        Array.from({ length: count }, (_, k) => ({
          type: 'ClusterScaled',
          data: data(seq + k),
          metadata,
        })),
        { expectedRevision: 'any' },
      );
    },
    readAllCount: async () => {
      let after = 0n;
      let total = 0;
      for (;;) {
        const page = await store.readAll({ after, limit: READ_PAGE });
        if (page.length === 0) return total;
        total += page.length;
        after = page[page.length - 1]!.position;
      }
    },
    close: () => store.close(),
  };
}

/** Resolves once every connection of the pool has closed (the database is dropped next). */
async function drained(pool: pg.Pool): Promise<void> {
  for (let i = 0; i < 500 && pool.totalCount > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A pool whose idle connections may be cut when the database is dropped must not crash the run. */
function benchPool(url: string, types?: pg.CustomTypesConfig): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, ...(types ? { types } : {}) });
  pool.on('error', () => undefined);
  return pool;
}

async function emmett(url: string): Promise<Subject> {
  const pool = benchPool(url);
  const eventStore = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
  const reader = dumbo({ connectionString: url, pool });
  await eventStore.schema.migrate();
  return {
    name: 'emmett',
    append: async (streamId, count, seq) => {
      await eventStore.appendToStream(
        streamId,
        Array.from({ length: count }, (_, k) => ({
          type: 'ClusterScaled',
          data: data(seq + k),
          metadata,
        })),
      );
    },
    readAllCount: async () => {
      let after = 0n;
      let total = 0;
      for (;;) {
        const batch = await readMessagesBatch(reader.execute, { after, batchSize: READ_PAGE });
        if (batch.messages.length === 0) return total;
        total += batch.messages.length;
        after = batch.currentGlobalPosition;
      }
    },
    close: async () => {
      await eventStore.close();
      // Emmett may already have started ending the pool without waiting: wait until it is empty.
      await pool.end().catch(() => undefined);
      await drained(pool);
      // Emmett's schema migration opens a pool of its own (dumbo's registry): end it too.
      await endAllPools();
    },
  };
}

/** The floor: what PostgreSQL does with one plain row per event and no event-store logic at all. */
/**
 * pg's process-wide parsers, which Emmett's dumbo replaces (bigint and a JSON reviver) once it
 * loads: the floor keeps plain ones so its reads are not slowed by Emmett's choice.
 */
const plainTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) =>
    oid === 114 || oid === 3802
      ? JSON.parse
      : (value: string) => value) as pg.CustomTypesConfig['getTypeParser'],
};

async function barePg(url: string): Promise<Subject> {
  const pool = benchPool(url, plainTypes);
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_floor (
    id bigserial PRIMARY KEY, stream_id text NOT NULL, type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL)`);
  const meta = JSON.stringify(metadata);
  return {
    name: 'bare pg',
    append: async (streamId, count, seq) => {
      if (count === 1) {
        await pool.query(
          'INSERT INTO bench_floor (stream_id, type, data, metadata) VALUES ($1, $2, $3, $4)',
          [streamId, 'ClusterScaled', JSON.stringify(data(seq)), meta],
        );
        return;
      }
      const payloads = Array.from({ length: count }, (_, k) => JSON.stringify(data(seq + k)));
      await pool.query(
        `INSERT INTO bench_floor (stream_id, type, data, metadata) SELECT $1, $2, d, $4::jsonb FROM unnest($3::jsonb[]) AS d`,
        [streamId, 'ClusterScaled', payloads, meta],
      );
    },
    readAllCount: async () => {
      let after = '0';
      let total = 0;
      for (;;) {
        const { rows } = await pool.query<{ id: string }>(
          'SELECT id, stream_id, type, data, metadata FROM bench_floor WHERE id > $1 ORDER BY id LIMIT $2',
          [after, READ_PAGE],
        );
        if (rows.length === 0) return total;
        total += rows.length;
        after = rows[rows.length - 1]!.id;
      }
    },
    close: () => pool.end(),
  };
}

interface Measurement {
  readonly done: number;
  readonly seconds: number;
  readonly rate: number;
}

/** Runs `total` operations over `writers` concurrent loops, stopping early at the time cap. */
async function measure(
  total: number,
  writers: number,
  op: (writer: number, n: number) => Promise<number>,
): Promise<Measurement> {
  let next = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + MAX_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (next < total && performance.now() < deadline) {
        const n = next++;
        const count = await op(w, n); // not `done += await ...`: that reads `done` before the await
        done += count;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { done, seconds, rate: done / seconds };
}

interface Line {
  readonly key: string;
  readonly label: string;
  readonly unit: 'appends/s' | 'events/s';
  run(subject: Subject): Promise<Measurement>;
}

const lines: Line[] = [
  {
    key: 'append_1_writer',
    label: 'single-event appends, 1 writer',
    unit: 'appends/s',
    run: (s) =>
      measure(APPENDS, 1, async (_w, n) => {
        await s.append(`cluster-a1-${n % 500}`, 1, n);
        return 1;
      }),
  },
  {
    key: `append_${WRITERS}_writers`,
    label: `single-event appends, ${WRITERS} writers`,
    unit: 'appends/s',
    run: (s) =>
      measure(APPENDS, WRITERS, async (w, n) => {
        await s.append(`cluster-a${WRITERS}-${w}-${n % 50}`, 1, n);
        return 1;
      }),
  },
  {
    key: `batch_${BATCH_SIZE}`,
    label: `${BATCH_SIZE}-event batches, 1 writer`,
    unit: 'events/s',
    run: (s) =>
      measure(BATCHES, 1, async (_w, n) => {
        await s.append(`cluster-b-${n}`, BATCH_SIZE, n * BATCH_SIZE);
        return BATCH_SIZE;
      }),
  },
  {
    key: 'read_all',
    label: `readAll (pages of ${READ_PAGE})`,
    unit: 'events/s',
    run: async (s) => {
      const started = performance.now();
      const done = await s.readAllCount();
      const seconds = (performance.now() - started) / 1000;
      return { done, seconds, rate: done / seconds };
    },
  },
];

async function warmUp(subject: Subject): Promise<void> {
  // Opens every pooled connection and prepares statements, so no line pays for it.
  await Promise.all(
    Array.from({ length: POOL_SIZE }, (_, w) => subject.append(`warmup-${w}`, 1, w)),
  );
  await Promise.all(
    Array.from({ length: POOL_SIZE }, (_, w) => subject.append(`warmup-${w}`, 1, w)),
  );
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r, i) =>
        r
          .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
          .join('  ') + (i === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : ''),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const db = await createTestDatabase('bench');
  const subjects: Subject[] = [];
  try {
    subjects.push(await flotilla(db.url), await emmett(db.url), await barePg(db.url));
    for (const s of subjects) await warmUp(s);
    const server = new pg.Client({ connectionString: db.url });
    await server.connect();
    const version = (
      await server.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
    ).rows[0]!.v;
    const settings = (
      await server.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')`,
      )
    ).rows;
    await server.end();

    const results: Array<{ line: string; label: string; unit: string } & Record<string, unknown>> =
      [];
    for (const line of lines) {
      const row: Record<string, Measurement> = {};
      // Contenders take turns line by line, so drift (cache, WAL, neighbours) hits them alike.
      for (const s of subjects) row[s.name] = await line.run(s);
      const f = row['flotilla']!;
      const e = row['emmett']!;
      const p = row['bare pg']!;
      results.push({
        line: line.key,
        label: line.label,
        unit: line.unit,
        flotilla: { ops: f.done, seconds: +f.seconds.toFixed(3), rate: Math.round(f.rate) },
        emmett: { ops: e.done, seconds: +e.seconds.toFixed(3), rate: Math.round(e.rate) },
        bare_pg: { ops: p.done, seconds: +p.seconds.toFixed(3), rate: Math.round(p.rate) },
        ratio_vs_emmett: +(f.rate / e.rate).toFixed(2),
        ratio_vs_bare_pg: +(f.rate / p.rate).toFixed(2),
      });
      process.stderr.write(`  ${line.label}: done\n`);
    }
    const document = {
      benchmark: 'eventstore',
      date: new Date().toISOString(),
      node: process.version,
      postgres: version,
      settings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
      config: {
        appends: APPENDS,
        writers: WRITERS,
        batches: BATCHES,
        batchSize: BATCH_SIZE,
        readPage: READ_PAGE,
        poolSize: POOL_SIZE,
        maxSecondsPerLine: MAX_SECONDS,
      },
      results,
    };
    const json = JSON.stringify(document, null, 2);
    console.log(json);
    if (process.env['BENCH_JSON']) await writeFile(process.env['BENCH_JSON'], json + '\n');

    const fmt = (n: unknown) => Math.round(Number(n)).toLocaleString('en');
    const rows = [
      ['workload', 'unit', 'flotilla', 'emmett', 'bare pg', 'vs emmett', 'vs bare pg'],
      ...results.map((r) => [
        r.label,
        r.unit,
        fmt((r['flotilla'] as Measurement).rate),
        fmt((r['emmett'] as Measurement).rate),
        fmt((r['bare_pg'] as Measurement).rate),
        `${String(r['ratio_vs_emmett'])}x`,
        `${String(r['ratio_vs_bare_pg'])}x`,
      ]),
    ];
    console.log(`\n${table(rows)}\n`);
  } finally {
    await Promise.all(subjects.map((s) => s.close().catch(() => undefined)));
    await db.drop();
  }
}

await main();
