import type { Command } from 'commander';
import { KIND_NAMES } from './get.command.js';
import { UsageError } from './resources.js';

interface Spec {
  readonly name: string;
  readonly description: string;
  readonly options: readonly string[];
  /** Words for the first argument (kinds for get, clusters|nodes for top, …). */
  readonly choices: readonly string[];
  readonly subcommands: readonly Spec[];
}

const CHOICES: Record<string, readonly string[]> = {
  get: KIND_NAMES,
  describe: ['cluster'],
  top: ['clusters', 'nodes'],
  completion: ['bash', 'zsh'],
};

function specOf(cmd: Command): Spec {
  return {
    name: cmd.name(),
    description: cmd.description().split('\n')[0] ?? '',
    options: cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x))),
    choices: CHOICES[cmd.name()] ?? [],
    subcommands: cmd.commands.filter((c) => c.name() !== 'help').map(specOf),
  };
}

const words = (xs: readonly string[]) => xs.join(' ');
const zq = (s: string) => s.replace(/'/g, "'\\''").replace(/:/g, '\\:');

/** A bash completion script for the program as it is defined (commands, subcommands, options). */
export function bashCompletion(program: Command): string {
  const root = specOf(program);
  const cases = root.subcommands
    .map((c) => {
      const subs = c.subcommands.map((s) => `        ${s.name}) opts="${words(s.options)}" ;;`).join('\n');
      return `    ${c.name})
      if [[ -z "$sub" && $pos -eq $COMP_CWORD && "$cur" != -* ]]; then
        COMPREPLY=( $(compgen -W "${words([...c.subcommands.map((s) => s.name), ...c.choices])}" -- "$cur") ); return
      fi
      opts="${words(c.options)}"
      case "$sub" in
${subs}
      esac ;;`;
    })
    .join('\n');
  return `# flotilla bash completion: source <(flotilla completion bash)
_flotilla() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" sub="" pos=0 i opts=""
  # The command is the first word that is not an option (global options may come first).
  for (( i=1; i<COMP_CWORD; i++ )); do
    case "\${COMP_WORDS[i]}" in
      -g|--gateway|-k|--api-key|--context) (( i++ )) ;;
      -*) ;;
      *) if [[ -z "$cmd" ]]; then cmd="\${COMP_WORDS[i]}"; pos=$(( i+1 )); elif [[ -z "$sub" ]]; then sub="\${COMP_WORDS[i]}"; fi ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=( $(compgen -W "${words([...root.subcommands.map((c) => c.name), ...root.options])}" -- "$cur") ); return
  fi
  case "$cmd" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$opts --help" -- "$cur") )
}
complete -F _flotilla flotilla
`;
}

/** A zsh completion script (commands and subcommands with their descriptions). */
export function zshCompletion(program: Command): string {
  const root = specOf(program);
  const described = (xs: readonly Spec[]) => xs.map((s) => `'${zq(s.name)}:${zq(s.description)}'`).join(' ');
  const cases = root.subcommands
    .map(
      (c) => `    ${c.name})
      if (( CURRENT == cmdpos + 1 )) && [[ $PREFIX != -* ]]; then
        local -a subs=(${described(c.subcommands)} ${c.choices.map((x) => `'${x}'`).join(' ')})
        _describe -t commands '${c.name}' subs; return
      fi
      local -a opts=(${c.options.map((o) => `'${o}'`).join(' ')} ${c.subcommands.flatMap((s) => s.options.map((o) => `'${o}'`)).join(' ')} '--help')
      compadd -a opts ;;`,
    )
    .join('\n');
  return `#compdef flotilla
# flotilla zsh completion: source <(flotilla completion zsh), or save as _flotilla in your $fpath
_flotilla() {
  local cmd="" cmdpos=0 i
  for (( i=2; i<CURRENT; i++ )); do
    case "$words[i]" in
      -g|--gateway|-k|--api-key|--context) (( i++ )) ;;
      -*) ;;
      *) cmd="$words[i]"; cmdpos=$i; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    local -a cmds=(${described(root.subcommands)})
    _describe -t commands 'flotilla command' cmds
    local -a globals=(${root.options.map((o) => `'${o}'`).join(' ')})
    [[ $PREFIX == -* ]] && compadd -a globals
    return
  fi
  case "$cmd" in
${cases}
  esac
}
if [[ "$funcstack[1]" == "_flotilla" ]]; then _flotilla "$@"; else compdef _flotilla flotilla; fi
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash | zsh')
    .addHelpText(
      'after',
      `
Examples:
  source <(flotilla completion bash)                   in ~/.bashrc
  flotilla completion zsh > "\${fpath[1]}/_flotilla"    then restart zsh`,
    )
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') process.stdout.write(zshCompletion(program));
      else throw new UsageError(`completion supports bash and zsh, not '${shell}'`);
    });
}
