import fs from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import { type VariableName, variables } from './variables.js';

export type Config = { readonly [K in VariableName]: z.output<(typeof variables)[K]['schema']> };

export const configSchema = z
  .object(
    Object.fromEntries(Object.entries(variables).map(([name, spec]) => [name, spec.schema])) as {
      [K in VariableName]: (typeof variables)[K]['schema'];
    },
  )
  .superRefine((cfg, ctx) => {
    if (cfg.EVENT_STORE === 'eventstoredb' && !cfg.EVENTSTORE_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['EVENTSTORE_URL'],
        message: 'required when EVENT_STORE=eventstoredb (e.g. esdb://127.0.0.1:2113?tls=false)',
      });
    }
    if (cfg.EVENT_STORE === 'eventstoredb' && cfg.EVENT_ARCHIVE_AFTER > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['EVENT_ARCHIVE_AFTER'],
        message: "the archive is the PostgreSQL event store's; with EVENT_STORE=eventstoredb use EventStoreDB's own retention and leave this 0",
      });
    }
    if (cfg.NODE_OFFLINE_AFTER_MS <= cfg.NODE_SUSPECT_AFTER_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['NODE_OFFLINE_AFTER_MS'],
        message: `must be greater than NODE_SUSPECT_AFTER_MS (${cfg.NODE_SUSPECT_AFTER_MS})`,
      });
    }
    if (cfg.AUTH_JWT_SECRET && cfg.AUTH_JWT_PUBLIC_KEY) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_PUBLIC_KEY'], message: 'set either AUTH_JWT_SECRET (HS256) or AUTH_JWT_PUBLIC_KEY (RS256), not both' });
    }
    if (Boolean(cfg.NATS_USER) !== Boolean(cfg.NATS_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['NATS_PASSWORD'], message: 'NATS_USER and NATS_PASSWORD go together' });
    }
    if (cfg.NODE_ENV === 'production') {
      // A committed example or a development value must never be what guards a real deployment.
      for (const name of ['FLOTILLA_BOOTSTRAP_ADMIN_KEY', 'AUTH_JWT_SECRET'] as const) {
        const value = cfg[name];
        const weak = value === undefined ? undefined : weakSecretReason(value);
        if (weak) ctx.addIssue({ code: 'custom', path: [name], message: `${weak} (NODE_ENV=production); generate one, e.g. openssl rand -base64 32` });
      }
      if (cfg.AUTH_JWT_SECRET || cfg.AUTH_JWT_PUBLIC_KEY) {
        for (const name of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
          if (!cfg[name])
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'required with NODE_ENV=production when JWT bearer tokens are enabled (AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY), so that a token minted for another service is refused',
            });
        }
      }
    }
  });

/** Words that mark a value as a placeholder, compared without case, spaces or punctuation. */
const PLACEHOLDER_WORDS = ['changeme', 'replaceme', 'placeholder', 'yoursecret', 'yourkey', 'secretkey', 'example', 'development', 'devonly', 'insecure', 'notasecret', 'password'];

/**
 * Why a secret is not fit for production, or undefined: a known placeholder (the committed
 * examples say CHANGE_ME), a development value, or too little variety to be random.
 */
export function weakSecretReason(value: string): string | undefined {
  const folded = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  const word = PLACEHOLDER_WORDS.find((w) => folded.includes(w));
  if (word) return `looks like a placeholder ('${word}'), not a secret`;
  if (value.length < 24) return 'too short: at least 24 characters';
  if (new Set(value).size < 8) return 'too little variety to be random (fewer than 8 distinct characters)';
  return undefined;
}

export class ConfigError extends Error {
  // A plain field, not a parameter property: the local runner (tools/stack) imports this library
  // and type-checks with erasableSyntaxOnly.
  readonly problems: readonly { variable: string; message: string; value?: string }[];

  constructor(problems: readonly { variable: string; message: string; value?: string }[]) {
    super(
      'invalid configuration:\n' +
        problems
          .map((p) => `  ${p.variable}: ${p.message}${p.value === undefined ? '' : ` (got ${JSON.stringify(p.value)})`}`)
          .join('\n'),
    );
    this.problems = problems;
    this.name = 'ConfigError';
  }
}

const secretish = /PASSWORD|SECRET|TOKEN|KEY/;

/** Parses the environment; every bad value is reported at once, each naming its variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const name of Object.keys(variables)) {
    const value = env[name];
    // An empty value means "unset": `FOO=` in a .env file should fall back to the default.
    if (value !== undefined && value !== '') input[name] = value;
  }
  const fileProblems = readPasswordFile(input);
  const parsed = configSchema.safeParse(input);
  if (parsed.success && !fileProblems.length) return parsed.data as Config;
  throw new ConfigError([
    ...fileProblems,
    ...(parsed.success ? [] : parsed.error.issues).map((issue) => {
      const variable = String(issue.path[0] ?? '(environment)');
      const raw = input[variable];
      return {
        variable,
        message: issue.message,
        ...(raw === undefined || secretish.test(variable) ? {} : { value: raw }),
      };
    }),
  ]);
}

/**
 * NATS_PASSWORD_FILE: puts the file's content (without a trailing newline) in `input` as
 * NATS_PASSWORD, once, when the configuration is loaded. Returns what is wrong with it, if anything.
 */
function readPasswordFile(input: Record<string, string>): { variable: string; message: string }[] {
  const file = input['NATS_PASSWORD_FILE'];
  if (file === undefined) return [];
  if (input['NATS_PASSWORD'] !== undefined)
    return [{ variable: 'NATS_PASSWORD_FILE', message: 'set either NATS_PASSWORD or NATS_PASSWORD_FILE, not both' }];
  let password: string;
  try {
    password = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return [{ variable: 'NATS_PASSWORD_FILE', message: `cannot read ${JSON.stringify(file)} (${code})` }];
  }
  if (!password) return [{ variable: 'NATS_PASSWORD_FILE', message: `${JSON.stringify(file)} is empty` }];
  input['NATS_PASSWORD'] = password;
  return [];
}

export const MIN_NODE_MAJOR = 22;

/** Stops the process loudly when it runs on a Node older than the repo brings. */
export function assertNodeVersion(version: string = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (!(major >= MIN_NODE_MAJOR)) {
    throw new Error(
      `Flotilla needs Node ${MIN_NODE_MAJOR} or newer but runs on ${version}; ` +
        "start it through npm (npm start / npm test), which puts the repo's Node 22 first on the PATH.",
    );
  }
}

/**
 * For a service's main(): the config, or a one-paragraph message on stderr and exit code 78
 * (EX_CONFIG) that names every bad variable. Logging is not up yet at this point.
 */
export function loadConfigOrExit(service: string, env: NodeJS.ProcessEnv = process.env): Config {
  try {
    assertNodeVersion();
    return loadConfig(env);
  } catch (err) {
    process.stderr.write(`${service}: ${(err as Error).message}\n`);
    process.exit(78);
  }
}

export function instanceId(service: string, config: Config): string {
  return config.SERVICE_INSTANCE_ID ?? `${service}-${os.hostname()}-${process.pid}`;
}
