import { Command } from 'commander';
import type { Config } from '@flotilla/config';
import { registerApply } from './apply.command.js';
import { GatewayClient } from './client.js';
import { registerCommands } from './commands.js';
import { registerCompletion } from './completion.js';
import { registerConfig } from './config.command.js';
import { configPath, readContextFile, resolveConnection } from './contexts.js';
import { registerDescribe } from './describe.command.js';
import { registerEvents } from './events.command.js';
import { registerGet } from './get.command.js';
import { registerRebuild } from './rebuild.js';
import { registerResourceCommands } from './resources.js';
import { registerRollout } from './rollout.command.js';
import { registerTop } from './top.command.js';

/** Examples for the commands defined before the console ones, by their path. */
const EXAMPLES: Record<string, readonly string[]> = {
  health: ['flotilla health', 'flotilla health --json'],
  keys: ['flotilla keys list', 'flotilla keys create --tenant acme --role operator --name ci'],
  'keys create': ['flotilla keys create --tenant acme --role operator --name ci-deployer'],
  'keys list': ['flotilla keys list --tenant acme'],
  'keys revoke': ['flotilla keys revoke key_01j9… --reason rotated'],
  blueprints: ['flotilla blueprints list', 'flotilla blueprints apply examples/blueprints/marketing.yaml'],
  'blueprints apply': ['flotilla blueprints apply examples/blueprints/marketing.yaml'],
  'blueprints list': ['flotilla blueprints list --json'],
  clusters: ['flotilla clusters list', 'flotilla clusters scale marketing-prod 5'],
  'clusters list': ['flotilla clusters list --status active'],
  'clusters get': ['flotilla clusters get marketing-prod --json'],
  'clusters create': ['flotilla clusters create --blueprint marketing-v1 --name Marketing --id marketing-prod --workers 2'],
  'clusters scale': ['flotilla clusters scale marketing-prod 5'],
  'clusters hibernate': ['flotilla clusters hibernate marketing-prod'],
  'clusters reactivate': ['flotilla clusters reactivate marketing-prod'],
  'clusters delete': ['flotilla clusters delete marketing-prod'],
  'clusters events': ['flotilla clusters events marketing-prod --severity warning --limit 20'],
  tasks: ['flotilla tasks submit marketing-prod --payload \'{"q":1}\' --wait', 'flotilla tasks follow task_01j9…'],
  'tasks get': ['flotilla tasks get task_01j9…'],
  nodes: ['flotilla nodes list', 'flotilla nodes drain node-2'],
  'nodes list': ['flotilla nodes list --json'],
  'nodes drain': ['flotilla nodes drain node-2'],
  'nodes cordon': ['flotilla nodes cordon node-2'],
  'nodes uncordon': ['flotilla nodes uncordon node-2'],
  rebuild: ['flotilla rebuild', 'flotilla rebuild clusters cluster_events --batch 5000'],
};

const pathOf = (cmd: Command): string => {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
};

export function walk(cmd: Command, visit: (c: Command) => void): void {
  visit(cmd);
  for (const c of cmd.commands) walk(c, visit);
}

/**
 * The `flotilla` program. Where it talks to: `--gateway`/`--api-key`/`--context` flags, then
 * GATEWAY_URL/FLOTILLA_API_KEY, then the current context of the config file, then the defaults
 * (GATEWAY_URL's default, the bootstrap admin key of a local stack).
 */
export function buildProgram(config: Config): Command {
  const program = new Command()
    .name('flotilla')
    .description('Operate Flotilla clusters of AI agents through the gateway.')
    .option('-g, --gateway <url>', `gateway URL (default: $GATEWAY_URL, else the current context, else ${config.GATEWAY_URL})`)
    // No default value here: commander prints defaults in --help, and this one is a secret.
    .option('-k, --api-key <key>', 'API key (default: $FLOTILLA_API_KEY, else the current context, else $FLOTILLA_BOOTSTRAP_ADMIN_KEY); a key on the command line shows in the process list: prefer a context (config set-context --api-key-stdin) or the environment')
    .option('--context <name>', 'use this context of the config file instead of the current one')
    .option('--json', 'print raw JSON', false)
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      `
Examples:
  flotilla config set-context local --gateway http://127.0.0.1:8080 --api-key-stdin < key.txt
  flotilla apply -f examples/
  flotilla get clusters -w
  flotilla describe cluster marketing-prod
  flotilla top nodes`,
    );
  // A mistake in the command line exits 64 (EX_USAGE), --help and --version 0.
  program.exitOverride();

  const client = () => {
    const opts = program.opts<{ gateway?: string; apiKey?: string; context?: string }>();
    const connection = resolveConnection({
      flags: opts,
      env: process.env,
      file: readContextFile(configPath()),
      defaults: { gateway: config.GATEWAY_URL, apiKey: config.FLOTILLA_BOOTSTRAP_ADMIN_KEY },
    });
    return new GatewayClient({ baseUrl: connection.gateway, apiKey: connection.apiKey });
  };

  registerCommands(program, client);
  registerResourceCommands(program, client);
  registerRebuild(program);
  registerApply(program, client);
  registerGet(program, client);
  registerDescribe(program, client);
  registerTop(program, client);
  registerRollout(program, client);
  registerEvents(program, client);
  registerConfig(program);
  registerCompletion(program);

  walk(program, (cmd) => {
    const examples = EXAMPLES[pathOf(cmd)];
    if (examples) cmd.addHelpText('after', `\n${examples.length > 1 ? 'Examples' : 'Example'}:\n${examples.map((e) => `  ${e}`).join('\n')}`);
  });
  return program;
}
