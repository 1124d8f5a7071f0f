import type { Command } from 'commander';
import type { GatewayClient } from './client.js';
import { output, table } from './commands.js';
import { int } from './resources.js';

const enc = encodeURIComponent;

interface RolloutView {
  rollout: number;
  status: string;
  undo: boolean;
  from_version: string;
  to_version: string;
  max_surge: number;
  max_unavailable: number;
  pause_after: number | null;
  total: number;
  replaced: number;
  waves: number;
  current_wave: { wave: number; started_at: string; slots: { slot: string; agent_id: string; replaces: string; mode: string }[] } | null;
  reason: string;
  started_at: string;
  ended_at: string | null;
}

interface RolloutStatus {
  cluster_id: string;
  blueprint_version: string;
  rollout: RolloutView | null;
  versions: { version: string; agents: number; running: number; workers_running: number }[];
  remaining: number;
}

/** A command's reply: the cluster after it (a dry run wraps it with the events it would append). */
interface ClusterReply {
  id: string;
  status: string;
  blueprint_version: string;
  rollout?: RolloutView | null;
}
interface DryRunReply {
  dry_run: true;
  result: ClusterReply;
  events: { type: string; data: Record<string, unknown> }[];
}

/** The rollout in words: what it does, how far it got, and the agents per version. */
export function describeRollout(s: RolloutStatus): string {
  const r = s.rollout;
  if (!r) return `${s.cluster_id}: version ${s.blueprint_version}, no rollout yet`;
  const lines = [
    `${s.cluster_id}: rollout ${r.rollout}${r.undo ? ' (undo)' : ''} ${r.from_version} → ${r.to_version}: ${r.status}`,
    `  ${r.replaced}/${r.total} agents replaced in ${r.waves} wave${r.waves === 1 ? '' : 's'}, ${s.remaining} to go; max surge ${r.max_surge}, max unavailable ${r.max_unavailable}${r.pause_after ? `, pause after wave ${r.pause_after}` : ''}`,
    `  ${r.reason}`,
  ];
  if (r.current_wave) {
    lines.push(`  wave ${r.current_wave.wave} in flight since ${r.current_wave.started_at}:`);
    lines.push(table(r.current_wave.slots.map((x) => [`  ${x.slot}`, x.agent_id, x.replaces, x.mode]), ['  slot', 'new agent', 'replaces', 'mode']));
  }
  lines.push('', table(s.versions.map((v) => [v.version, v.agents, v.running, v.workers_running]), ['version', 'agents', 'running', 'workers running']));
  return lines.join('\n');
}

export function registerRollout(program: Command, client: () => GatewayClient): void {
  const out = () => output(program.opts<{ json: boolean }>().json);
  const rollout = program
    .command('rollout')
    .description("roll a cluster's agents to another blueprint version in waves, and watch, pause, resume or undo it")
    .addHelpText(
      'after',
      `
Examples:
  flotilla rollout start marketing-prod --version 1.3.0 --max-surge 2
  flotilla rollout status marketing-prod
  flotilla rollout undo marketing-prod`,
    );
  const reply = (what: string) => (c: ClusterReply) => {
    const r = c.rollout;
    out()(c, () => `${c.id}: ${what}; cluster at version ${c.blueprint_version}${r ? `, rollout ${r.rollout} (${r.from_version} → ${r.to_version}) ${r.status}` : ''}`);
  };
  rollout
    .command('start <cluster>')
    .description("start a rolling upgrade to a version of the cluster's blueprint")
    .requiredOption('--version <version>', 'the blueprint version to roll to')
    .option('--max-surge <n>', 'new agents started beside the old per wave', '1')
    .option('--max-unavailable <n>', 'old agents stopped before their replacement runs, per wave', '0')
    .option('--pause-after <waves>', 'pause after this many waves (a canary)')
    .option('--reason <text>', 'why, for the log')
    .option('--dry-run', 'show what it would do, change nothing')
    .addHelpText(
      'after',
      `
Examples:
  flotilla rollout start marketing-prod --version 1.3.0
  flotilla rollout start marketing-prod --version 1.3.0 --max-surge 0 --max-unavailable 2
  flotilla rollout start marketing-prod --version 1.3.0 --pause-after 1     a canary wave, then pause`,
    )
    .action(async (id: string, o: { version: string; maxSurge: string; maxUnavailable: string; pauseAfter?: string; reason?: string; dryRun?: boolean }) => {
      const body = {
        blueprint_version: o.version,
        max_surge: int(o.maxSurge),
        max_unavailable: int(o.maxUnavailable),
        ...(o.pauseAfter !== undefined ? { pause_after: int(o.pauseAfter) } : {}),
        ...(o.reason ? { reason: o.reason } : {}),
      };
      const path = `/api/clusters/${enc(id)}/upgrade`;
      if (o.dryRun) {
        const d = await client().request<DryRunReply>('POST', `${path}?dry_run=true`, body);
        out()(d, () => [`dry run, nothing changed; it would append ${d.events.length} event${d.events.length === 1 ? '' : 's'}:`, ...d.events.map((e) => `  ${e.type} ${JSON.stringify(e.data)}`)].join('\n'));
        return;
      }
      reply(`rolling to ${o.version}`)(await client().request<ClusterReply>('POST', `${path}?wait=true`, body));
    });
  rollout
    .command('status <cluster>')
    .description("the cluster's last rollout: versions, waves, the wave in flight, and its agents per version")
    .addHelpText('after', '\nExamples:\n  flotilla rollout status marketing-prod\n  flotilla rollout status marketing-prod --json')
    .action(async (id: string) => {
      const s = await client().request<RolloutStatus>('GET', `/api/clusters/${enc(id)}/rollout`);
      out()(s, () => describeRollout(s));
    });
  for (const verb of ['pause', 'resume', 'undo'] as const) {
    const what = { pause: 'paused: no further wave starts', resume: 'resumed', undo: 'rolling back to the previous version' }[verb];
    rollout
      .command(`${verb} <cluster>`)
      .description({ pause: 'start no further wave (the wave in flight completes)', resume: 'go on with a paused rollout', undo: 'roll back to the version the last rollout started from, in waves' }[verb])
      .option('--reason <text>', 'why, for the log')
      .addHelpText('after', `\nExamples:\n  flotilla rollout ${verb} marketing-prod${verb === 'undo' ? " --reason 'error rate up on 1.3.0'" : ''}`)
      .action(async (id: string, o: { reason?: string }) => {
        reply(what)(await client().request<ClusterReply>('POST', `/api/clusters/${enc(id)}/rollout/${verb}?wait=true`, o.reason ? { reason: o.reason } : {}));
      });
  }
}
