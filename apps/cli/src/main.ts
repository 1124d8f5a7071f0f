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
  .option('-k, --api-key <key>', 'API key (or FLOTILLA_API_KEY)', process.env['FLOTILLA_API_KEY'] ?? config.FLOTILLA_BOOTSTRAP_ADMIN_KEY)
  .option('--json', 'print raw JSON', false);

const client = () => {
  const opts = program.opts<{ gateway: string; apiKey?: string }>();
  return new GatewayClient({ baseUrl: opts.gateway, apiKey: opts.apiKey });
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
