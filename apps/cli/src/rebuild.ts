import type { Command } from 'commander';
import { loadConfig } from '@flotilla/config';

function bar(done: bigint, total: bigint, events: number, started: number): string {
  const ratio = total > 0n ? Math.min(1, Number((done * 1000n) / total) / 1000) : 1;
  const width = 30;
  const filled = Math.round(ratio * width);
  const rate = events / Math.max(0.001, (performance.now() - started) / 1000);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%  ${events} events  ${Math.round(rate)} events/s`;
}

/**
 * `flotilla rebuild [projection...]`: drops read models and replays them from position 0 against
 * the database and event store of the environment (DATABASE_URL, EVENT_STORE, EVENTSTORE_URL).
 * Live processors leave a projection alone on a projection while it is rebuilt and carry on from where it ends.
 */
export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('drop read models and replay them from the event log (all of them, or the ones named)')
    .argument('[projections...]', 'read models to rebuild (every one when none is named; a wrong name lists them)')
    .option('--batch <n>', 'events per transaction', '10000')
    .action(async (names: string[], opts: { batch: string }) => {
      // Loaded here, not at start-up: the ORM, the event store and pg take a second or more to
      // import, which every other command would pay for.
      const [{ default: pg }, { createEventStore, eventStoreConfigFromEnv }, { ALL_PROJECTIONS, createReadModelOrm, migrateReadModels, rebuildProjection }] = await Promise.all([
        import('pg'),
        import('@flotilla/eventstore'),
        import('@flotilla/projections'),
      ]);
      const unknown = names.filter((n) => !ALL_PROJECTIONS.some((p) => p.name === n));
      if (unknown.length) {
        process.stderr.write(`unknown projection(s): ${unknown.join(', ')} (any of: ${ALL_PROJECTIONS.map((p) => p.name).join(', ')})\n`);
        process.exitCode = 2;
        return;
      }
      const chosen = names.length ? ALL_PROJECTIONS.filter((p) => names.includes(p.name)) : ALL_PROJECTIONS;
      const config = loadConfig();
      const store = await createEventStore(eventStoreConfigFromEnv(config));
      const orm = await createReadModelOrm({ url: config.DATABASE_URL });
      const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
      try {
        await migrateReadModels(orm, config.DATABASE_URL);
        for (const projection of chosen) {
          const started = performance.now();
          const tty = process.stderr.isTTY;
          let last = 0;
          const result = await rebuildProjection({ pool, orm, store }, projection, {
            batchSize: Number(opts.batch),
            onProgress: (position, head, events) => {
              if (!tty && performance.now() - last < 2000) return;
              last = performance.now();
              process.stderr.write(`${tty ? '\r' : ''}${projection.name.padEnd(28)} ${bar(position, head, events, started)}${tty ? '' : '\n'}`);
            },
          });
          if (tty) process.stderr.write('\n');
          process.stdout.write(
            `${projection.name}: replayed ${result.events} events (${result.applied} applied) into ${result.rows} rows in ${(result.ms / 1000).toFixed(1)} s (${Math.round(result.events / Math.max(0.001, result.ms / 1000))} events/s)\n`,
          );
        }
      } finally {
        await pool.end();
        await orm.close();
        await store.close();
      }
    });
}
