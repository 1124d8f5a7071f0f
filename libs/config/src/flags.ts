import { ConfigError } from './config.js';
import { variables, type VariableName } from './variables.js';

/** `NODE_ID` is `--node-id`. */
export const flagOf = (variable: string): string => `--${variable.toLowerCase().replace(/_/g, '-')}`;

/** The variables a service reads (its own and everyone's). */
export function variablesOf(service: string): VariableName[] {
  return (Object.keys(variables) as VariableName[]).filter((v) => variables[v].usedBy.some((u) => u === '*' || u === service));
}

/**
 * Command-line flags over the environment: `--node-id n1` or `--node-id=n1` sets NODE_ID for this
 * process, for every variable the service reads (a flag wins over the environment). Returns the
 * environment to load the configuration from; an unknown flag or one without a value is refused
 * by name. `--help` is reported as `help: true`, with the text to print.
 */
export function applyFlags(service: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; help?: string } {
  const known = new Map(variablesOf(service).map((v) => [flagOf(v), v]));
  const out: NodeJS.ProcessEnv = { ...env };
  const problems: { variable: string; message: string }[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { env: out, help: usage(service) };
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const variable = known.get(flag);
    if (!variable) {
      problems.push({ variable: flag, message: flag.startsWith('--') ? `unknown flag for ${service} (see --help)` : 'unexpected argument (flags are --name value)' });
      // Its value, if it has one, is not a second problem.
      if (flag.startsWith('--') && eq < 0 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) i += 1;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) {
      problems.push({ variable: flag, message: 'needs a value' });
      continue;
    }
    if (eq < 0) i += 1;
    out[variable] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  return { env: out };
}

function usage(service: string): string {
  const rows = variablesOf(service).map((v) => [`${flagOf(v)} <value>`, `${variables[v].description} (${v}${variables[v].example ? `, e.g. ${variables[v].example}` : ''})`]);
  const width = Math.max(...rows.map(([f]) => f!.length));
  return `usage: ${service} [flags]\n\nEvery flag can also be set as the environment variable in brackets; a flag wins.\n\n${rows.map(([f, d]) => `  ${f!.padEnd(width)}  ${d}`).join('\n')}\n`;
}

/** `applyFlags` on this process: prints `--help` and exits 0, or a bad flag and exits 78. */
export function applyFlagsOrExit(service: string, argv: readonly string[] = process.argv.slice(2)): void {
  try {
    const { env, help } = applyFlags(service, argv);
    if (help !== undefined) {
      process.stdout.write(help);
      process.exit(0);
    }
    Object.assign(process.env, env);
  } catch (err) {
    process.stderr.write(`${service}: ${(err as Error).message}\n`);
    process.exit(78);
  }
}
