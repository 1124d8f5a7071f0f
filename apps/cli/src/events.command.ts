import type { Command } from 'commander';
import type { GatewayClient } from './client.js';
import { table } from './commands.js';
import { eventMessage, lastEvents } from './describe.command.js';
import { UsageError } from './resources.js';
import type { EventView } from './views.js';
import { followEvents, stopSignal } from './watch.js';

const line = (at: string, type: string, subject: string, actor: string, message: string) => [at, type, subject, actor, message].join('  ');

/**
 * `flotilla events`: recent events (of one cluster, or of every tenant's clusters for a platform
 * admin through the audit trail), and with --follow, new ones as they are stored.
 */
export function registerEvents(program: Command, client: () => GatewayClient): void {
  program
    .command('events')
    .description('recent events, and with --follow, new ones as they happen')
    .option('--cluster <id>', 'only this cluster')
    .option('--type <types>', 'only these event types (comma-separated)')
    .option('-f, --follow', 'keep printing new events (Ctrl-C ends)')
    .option('--limit <n>', 'how many recent events to print first', '20')
    .option('--timeout <s>', 'with --follow: stop after this many seconds')
    .addHelpText(
      'after',
      `
Examples:
  flotilla events --cluster marketing-prod
  flotilla events --cluster marketing-prod --follow
  flotilla events --follow --type ClusterScaled,AgentFailed`,
    )
    .action(async (o: { cluster?: string; type?: string; follow?: boolean; limit: string; timeout?: string }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 0 || limit > 1000) throw new UsageError(`--limit expects 0..1000, got '${o.limit}'`);
      const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeout !== undefined && !(timeout > 0)) throw new UsageError(`--timeout expects seconds, got '${o.timeout}'`);
      const json = program.opts<{ json?: boolean }>().json ?? false;
      const c = client();
      const types = o.type?.split(',').filter(Boolean);
      if (limit > 0 && (o.cluster || !o.follow)) {
        let recent: EventView[];
        if (o.cluster) {
          recent = types?.length === 1 ? await lastEvents(c, o.cluster, limit, types[0]) : (await lastEvents(c, o.cluster, limit)).filter((e) => !types?.length || types.includes(e.type));
        } else {
          // Every cluster's events: the audit trail (admins; a tenant's admin sees its own tenant).
          const head = await c.request<{ total: number }>('GET', '/api/audit?limit=1');
          recent = (await c.request<{ events: EventView[] }>('GET', `/api/audit?limit=${limit}&offset=${Math.max(0, head.total - limit)}`)).events.filter((e) => !types?.length || types.includes(e.type));
        }
        if (json) for (const e of recent) process.stdout.write(`${JSON.stringify(e)}\n`);
        else process.stdout.write(`${table(recent.map((e) => [e.occurred_at, e.type, e.cluster_id ?? '', e.actor, eventMessage(e)]), ['TIME', 'TYPE', 'CLUSTER', 'ACTOR', 'MESSAGE'])}\n`);
      }
      if (!o.follow) return;
      const stop = stopSignal(timeout);
      try {
        await followEvents(c, { cluster: o.cluster, type: types?.join(',') }, stop.signal, (e) => {
          if (json) process.stdout.write(`${JSON.stringify(e)}\n`);
          else process.stdout.write(`${line(e.occurredAt, e.type, e.streamId, String(e.metadata['actor'] ?? ''), eventMessage(e))}\n`);
        });
      } finally {
        stop.dispose();
      }
    });
}
