#!/usr/bin/env node
import { Command } from 'commander';
import { assertNodeVersion, loadConfig } from '@flotilla/config';
import { ApiError, GatewayClient } from './client.js';
import { registerCommands } from './commands.js';
import { registerRebuild } from './rebuild.js';
import { registerResourceCommands, UsageError } from './resources.js';

assertNodeVersion();
const config = loadConfig();
const program = new Command()
  .name('flotilla')
  .description('Operate Flotilla clusters of AI agents through the gateway.')
  .option('-g, --gateway <url>', 'gateway URL', config.GATEWAY_URL)
  // No default value here: commander prints defaults in --help, and this one is a secret.
  .option('-k, --api-key <key>', 'API key (default: $FLOTILLA_API_KEY, else $FLOTILLA_BOOTSTRAP_ADMIN_KEY)')
  .option('--json', 'print raw JSON', false);

const client = () => {
  const opts = program.opts<{ gateway: string; apiKey?: string }>();
  const apiKey = opts.apiKey ?? (process.env['FLOTILLA_API_KEY'] || undefined) ?? config.FLOTILLA_BOOTSTRAP_ADMIN_KEY;
  return new GatewayClient({ baseUrl: opts.gateway, apiKey });
};

registerCommands(program, client);
registerResourceCommands(program, client);
registerRebuild(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ApiError) {
    process.stderr.write(`error: ${err.code}: ${err.message}\n`);
    if (err.details && Object.keys(err.details as object).length) process.stderr.write(`${JSON.stringify(err.details, null, 2)}\n`);
    process.exit(err.status === 0 ? 69 : 1);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(64);
  }
  throw err;
}
