// A projector or relay in its own process, for the crash tests: the test kills it (SIGKILL) at
// random moments and starts it again, then checks that every event took effect exactly once.
// Runs the built libraries (dist), like a service does.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { createEventStore } from '@flotilla/eventstore';
import { Messaging } from '@flotilla/messaging';
import pg from 'pg';
import { defineProjection, EventRelay, ProjectionProcessor, readModelOrmConfig } from '@flotilla/projections';

const [mode, url, natsUrl, namespace] = process.argv.slice(2);

// Counts events per stream: applying an event twice would show as a count above the event total.
const Counter = defineEntity({
  name: 'CrashCounter',
  tableName: 'crash_counters',
  properties: { id: p.string().primary(), count: p.integer(), position: p.bigint('string') },
});
const counter = defineProjection({
  name: 'crash_counters',
  entity: Counter,
  primaryKey: 'id',
  handles: new Set(['Tick']),
  keyOf: (e) => e.streamId,
  evolve: (row, e) => ({ id: e.streamId, count: (row?.count ?? 0) + 1, position: e.position.toString() }),
});

const store = await createEventStore({ kind: 'postgres', url });
const config = readModelOrmConfig({ url });
const orm = await MikroORM.init({ ...config, entities: [...config.entities, Counter] });
const pool = new pg.Pool({ connectionString: url, max: 4 });
const controller = new AbortController();

/**
 * The fault this test injects: every COMMIT waits a little, after rows and checkpoint are
 * written, so kills land inside the transaction.
 */
function lingeringBeforeCommit(target) {
  const patched = new WeakSet();
  return new Proxy(target, {
    get(pool, prop) {
      if (prop !== 'connect') {
        const value = pool[prop];
        return typeof value === 'function' ? value.bind(pool) : value;
      }
      return async () => {
        const client = await pool.connect();
        if (!patched.has(client)) {
          patched.add(client);
          const query = client.query.bind(client);
          client.query = (...args) =>
            args[0] === 'COMMIT' ? new Promise((r) => setTimeout(r, 5 + Math.random() * 20)).then(() => query(...args)) : query(...args);
        }
        return client;
      };
    },
  });
}

process.stdout.write('ready\n');
if (mode === 'projector') {
  await new ProjectionProcessor({ pool: lingeringBeforeCommit(pool), orm, store }, [counter], { batchSize: 3 }).run(controller.signal);
} else {
  const messaging = await Messaging.connect({ servers: [natsUrl], namespace, name: 'relay-child', requestTimeoutMs: 5000 });
  await new EventRelay(messaging, store, pool, { batchSize: 5 }).run(controller.signal);
}
