import fs from 'node:fs';
import type { Command } from 'commander';
import { table } from './commands.js';
import { configPath, ContextFileError, readContextFile, setContext, writeContextFile } from './contexts.js';
import { UsageError } from './resources.js';

/** The key from standard input (a pipe, a file, or typed then Ctrl-D), one line, trimmed. */
function keyFromStdin(): string {
  if (process.stdin.isTTY) process.stderr.write('API key (then Enter and Ctrl-D): ');
  const key = fs.readFileSync(0, 'utf8').trim();
  if (!key) throw new UsageError('--api-key-stdin: standard input was empty');
  if (/\s/.test(key)) throw new UsageError('--api-key-stdin: expected one key, without spaces');
  return key;
}

/** `flotilla config …`: named contexts (gateway + API key), like kubectl's kubeconfig. */
export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description(`named contexts: a gateway and an API key each (${configPath()})`)
    .addHelpText(
      'after',
      `
The file is $FLOTILLA_CONFIG, else $XDG_CONFIG_HOME/flotilla/config.yaml, else
~/.config/flotilla/config.yaml, written with mode 0600. A flag (--gateway, --api-key, --context)
beats the environment (GATEWAY_URL, FLOTILLA_API_KEY), which beats the current context.

Examples:
  printf %s "$KEY" | flotilla config set-context prod --gateway https://flotilla.example.com --api-key-stdin
  flotilla config use-context prod
  flotilla config get-contexts`,
    );
  const load = () => {
    const file = configPath();
    return { file, cfg: readContextFile(file) };
  };
  config
    .command('set-context <name>')
    .description('add or change a context (fields not given keep their value)')
    .option('--gateway <url>', 'the gateway URL')
    .option('--api-key-stdin', 'read the API key from standard input (it never appears in the process list)')
    .option('--use', 'make it the current context too')
    .addHelpText('after', '\nExample:\n  flotilla config set-context staging --gateway http://10.0.0.5:8080 --api-key-stdin < key.txt')
    .action((name: string, o: { gateway?: string; apiKeyStdin?: boolean; use?: boolean }) => {
      // `--gateway` after the subcommand is also the program's own option, which commander gives
      // to the program: read it there.
      const gateway = o.gateway ?? program.opts<{ gateway?: string }>().gateway;
      if (gateway !== undefined) {
        try {
          const u = new URL(gateway);
          if (!['http:', 'https:'].includes(u.protocol)) throw new Error('not http');
        } catch {
          throw new UsageError(`--gateway must be an http(s) URL, got '${gateway}'`);
        }
      }
      const { file, cfg } = load();
      let next = setContext(cfg, name, { gateway, api_key: o.apiKeyStdin ? keyFromStdin() : undefined });
      if (o.use || next['current-context'] === undefined) next = { ...next, 'current-context': name };
      writeContextFile(file, next);
      process.stdout.write(`context ${name} ${cfg.contexts.some((c) => c.name === name) ? 'modified' : 'created'}${next['current-context'] === name ? ' (current)' : ''}\n`);
    });
  config
    .command('use-context <name>')
    .description('make a context the current one')
    .addHelpText('after', '\nExample:\n  flotilla config use-context prod')
    .action((name: string) => {
      const { file, cfg } = load();
      if (!cfg.contexts.some((c) => c.name === name)) throw new ContextFileError(`no context named '${name}'`);
      writeContextFile(file, { ...cfg, 'current-context': name });
      process.stdout.write(`switched to context ${name}\n`);
    });
  config
    .command('get-contexts')
    .description('list contexts (never their keys)')
    .addHelpText('after', '\nExample:\n  flotilla config get-contexts')
    .action(() => {
      const { cfg } = load();
      const rows = cfg.contexts.map((c) => [c.name === cfg['current-context'] ? '*' : '', c.name, c.gateway, c.api_key ? 'api key (hidden)' : 'none']);
      process.stdout.write(`${table(rows, ['CURRENT', 'NAME', 'GATEWAY', 'AUTH'])}\n`);
    });
  config
    .command('current-context')
    .description('print the current context')
    .addHelpText('after', '\nExample:\n  flotilla config current-context')
    .action(() => {
      const { cfg } = load();
      if (!cfg['current-context']) throw new ContextFileError('no current context (flotilla config use-context <name>)');
      process.stdout.write(`${cfg['current-context']}\n`);
    });
  config
    .command('delete-context <name>')
    .description('remove a context (and its key) from the file')
    .addHelpText('after', '\nExample:\n  flotilla config delete-context old-staging')
    .action((name: string) => {
      const { file, cfg } = load();
      if (!cfg.contexts.some((c) => c.name === name)) throw new ContextFileError(`no context named '${name}'`);
      const rest = cfg.contexts.filter((c) => c.name !== name);
      const { 'current-context': current, ...others } = cfg;
      writeContextFile(file, { ...others, contexts: rest, ...(current && current !== name ? { 'current-context': current } : {}) });
      process.stdout.write(`deleted context ${name}\n`);
    });
}
