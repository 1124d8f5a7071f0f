import type { Command } from 'commander';
import type { GatewayClient } from './client.js';

type Out = (value: unknown, table?: () => string) => void;

export function output(json: boolean): Out {
  return (value, table) => {
    process.stdout.write(`${json || !table ? JSON.stringify(value, null, 2) : table()}\n`);
  };
}

export function table(rows: readonly (readonly unknown[])[], header: readonly string[]): string {
  const all = [header, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

interface Health {
  status: string;
  services: Record<string, { status: string; latency_ms: number | null; instance?: string }>;
  nats: { status: string; latency_ms: number | null };
  postgres: { status: string; latency_ms: number | null };
}

export function registerCommands(program: Command, client: () => GatewayClient): void {
  const out = () => output(program.opts<{ json: boolean }>().json);

  program
    .command('health')
    .description('every service, NATS and PostgreSQL, with latency')
    .action(async () => {
      const h = await client().request<Health>('GET', '/health');
      const rows = [
        ...Object.entries(h.services).map(([name, s]) => [name, s.status, s.latency_ms, s.instance]),
        ['nats', h.nats.status, h.nats.latency_ms, ''],
        ['postgres', h.postgres.status, h.postgres.latency_ms, ''],
      ];
      out()(h, () => `${table(rows, ['component', 'status', 'latency_ms', 'instance'])}\n\noverall: ${h.status}`);
      if (h.status !== 'up') process.exitCode = 2;
    });
}
