import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';

/**
 * Named connections, like kubeconfig: `~/.config/flotilla/config.yaml` (under $XDG_CONFIG_HOME
 * when set; $FLOTILLA_CONFIG names another file). The file holds API keys, so it is written
 * with mode 0600 in a 0700 directory and its keys are never printed.
 */
const contextSchema = z.object({
  name: z.string().min(1),
  gateway: z.string().min(1),
  api_key: z.string().min(1).optional(),
});
const fileSchema = z.object({
  'current-context': z.string().optional(),
  contexts: z.array(contextSchema).default([]),
});

export type Context = z.infer<typeof contextSchema>;
export type ContextFile = z.infer<typeof fileSchema>;

/** A problem with the config file (it exists but cannot be read as one). */
export class ContextFileError extends Error {}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['FLOTILLA_CONFIG']) return env['FLOTILLA_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || path.join(os.homedir(), '.config');
  return path.join(base, 'flotilla', 'config.yaml');
}

export function readContextFile(file: string): ContextFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: [] };
    throw new ContextFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(parse(text) ?? {});
  if (!parsed.success) throw new ContextFileError(`${file} is not a flotilla config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export function writeContextFile(file: string, config: ContextFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written beside the file and renamed over it: a reader never sees half a file, and the key is
  // never on disk under a wider mode (the temporary file is created 0600).
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, stringify(config), { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Adds or changes a context; fields not given keep their value. */
export function setContext(config: ContextFile, name: string, change: { gateway?: string | undefined; api_key?: string | undefined }): ContextFile {
  const existing = config.contexts.find((c) => c.name === name);
  const gateway = change.gateway ?? existing?.gateway;
  if (!gateway) throw new ContextFileError(`context '${name}' is new: give it a --gateway`);
  const apiKey = change.api_key ?? existing?.api_key;
  const next: Context = { name, gateway, ...(apiKey ? { api_key: apiKey } : {}) };
  return {
    ...config,
    contexts: existing ? config.contexts.map((c) => (c.name === name ? next : c)) : [...config.contexts, next],
  };
}

export interface ConnectionInput {
  readonly flags: { readonly gateway?: string | undefined; readonly apiKey?: string | undefined; readonly context?: string | undefined };
  readonly env: NodeJS.ProcessEnv;
  readonly file: ContextFile;
  /** The built-in defaults: the configured gateway URL, the bootstrap admin key of a local stack. */
  readonly defaults: { readonly gateway: string; readonly apiKey?: string | undefined };
}

export type Source = 'flag' | 'env' | 'context' | 'default';

export interface Connection {
  readonly gateway: string;
  readonly apiKey: string | undefined;
  readonly context: string | undefined;
  readonly sources: { readonly gateway: Source; readonly apiKey: Source | undefined };
}

/** Where the gateway and key come from: flags, then the environment, then the context, then defaults. */
export function resolveConnection({ flags, env, file, defaults }: ConnectionInput): Connection {
  const contextName = flags.context ?? file['current-context'];
  const context = contextName === undefined ? undefined : file.contexts.find((c) => c.name === contextName);
  if (flags.context !== undefined && !context) throw new ContextFileError(`no context named '${flags.context}'`);
  const pick = (flag: string | undefined, fromEnv: string | undefined, fromContext: string | undefined, fallback: string | undefined): [string | undefined, Source | undefined] =>
    flag ? [flag, 'flag'] : fromEnv ? [fromEnv, 'env'] : fromContext ? [fromContext, 'context'] : fallback ? [fallback, 'default'] : [undefined, undefined];
  const [gateway, gatewaySource] = pick(flags.gateway, env['GATEWAY_URL'], context?.gateway, defaults.gateway);
  const [apiKey, keySource] = pick(flags.apiKey, env['FLOTILLA_API_KEY'], context?.api_key, defaults.apiKey);
  return { gateway: gateway!, apiKey, context: context?.name, sources: { gateway: gatewaySource!, apiKey: keySource } };
}
