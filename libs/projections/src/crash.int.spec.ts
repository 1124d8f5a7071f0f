import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { createEventStore, type EventStore, type NewEvent } from '@flotilla/eventstore';
import { createTestDatabase, createTestNamespace, eventually, type TestDatabase, type TestNamespace } from '@flotilla/testing';
import { createReadModelOrm, migrateReadModels } from './orm.js';
import { EVENTS_STREAM, POSITION_HEADER } from './relay.js';
import { meta } from './testing/fixtures.js';

const child = path.join(import.meta.dirname, '..', 'scripts', 'crash-child.mjs');

function startChild(args: string[]): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).once('line', () => resolve(proc));
    proc.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
}

async function killAt(proc: ChildProcess, ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

const STREAMS = 6;
const PER_STREAM = 40;

async function appendTicks(store: EventStore): Promise<number> {
  let n = 0;
  for (let i = 0; i < PER_STREAM; i++) {
    await Promise.all(
      Array.from({ length: STREAMS }, (_, s) => {
        const events: NewEvent[] = [{ type: 'Tick', data: { i }, metadata: meta() }];
        n += 1;
        return store.append(`tick-${s}`, events, { expectedRevision: 'any' });
      }),
    );
  }
  return n;
}

describe('crashes (processes killed with SIGKILL at random moments)', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let store: EventStore;
  let pool: pg.Pool;
  let total: number;

  beforeAll(async () => {
    db = await createTestDatabase('crash');
    ns = createTestNamespace();
    store = await createEventStore({ kind: 'postgres', url: db.url });
    const orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    await orm.close();
    pool = new pg.Pool({ connectionString: db.url });
    await pool.query('CREATE TABLE crash_counters (id text PRIMARY KEY, count integer NOT NULL, position bigint NOT NULL)');
    total = await appendTicks(store);
  });

  afterAll(async () => {
    await store.close();
    await pool.end();
    await db.drop();
    await ns.cleanup();
  });

  it('a projector killed between rows and checkpoint never applies an event twice', async () => {
    for (let round = 0; round < 6; round++) {
      const proc = await startChild(['projector', db.url]);
      await killAt(proc, 150 + Math.random() * 250);
    }
    const last = await startChild(['projector', db.url]);
    const head = await store.headPosition();
    try {
      await eventually(async () => (await pool.query(`SELECT position FROM projection_checkpoints WHERE name = 'crash_counters'`)).rows[0], {
        until: (row) => row !== undefined && BigInt(row.position) === head,
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `the crash_counters checkpoint at the head (${head})`,
      });
    } finally {
      last.kill('SIGKILL');
    }
    const { rows } = await pool.query('SELECT id, count FROM crash_counters ORDER BY id');
    expect(rows).toHaveLength(STREAMS);
    expect(rows.every((r) => r.count === PER_STREAM)).toBe(true);
    expect(rows.reduce((s, r) => s + r.count, 0)).toBe(total);
  });

  it('a relay killed at any moment still puts every event on JetStream exactly once, in order', async () => {
    for (let round = 0; round < 5; round++) {
      const proc = await startChild(['relay', db.url, ns.natsUrl, ns.prefix]);
      await killAt(proc, 200 + Math.random() * 300);
    }
    const last = await startChild(['relay', db.url, ns.natsUrl, ns.prefix]);
    const nc = await connect({ servers: ns.natsUrl });
    const jsm = await jetstreamManager(nc);
    const stream = ns.ns.stream(EVENTS_STREAM);
    try {
      await eventually(async () => (await jsm.streams.info(stream).catch(() => undefined))?.state.messages, {
        until: (messages) => messages !== undefined && messages >= total,
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `${total} events on JetStream`,
      });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      last.kill('SIGKILL');
    }
    const info = await jsm.streams.info(stream);
    expect(info.state.messages).toBe(total);
    const positions: bigint[] = [];
    const ids = new Set<string>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(stream, { seq });
      positions.push(BigInt(msg!.header.get(POSITION_HEADER)));
      ids.add((msg!.json() as { id: string }).id);
    }
    expect(ids.size).toBe(total);
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
    expect(String((await jsm.streams.getMessage(stream, { seq: info.state.first_seq }))!.subject)).toBe(`${ns.prefix}.flotilla.events.tick.0.Tick`);
    await nc.close();
  });
});
