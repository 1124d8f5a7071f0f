import { describe, expect, it } from '@jest/globals';
import type { Command } from 'commander';
import { loadConfig } from '@flotilla/config';
import { bashCompletion } from './completion.js';
import { buildProgram, walk } from './program.js';

const helpOf = (cmd: Command): string => {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
};

describe('the flotilla program', () => {
  const program = buildProgram(loadConfig({}));

  it('has an example in the --help of every command', () => {
    const missing: string[] = [];
    walk(program, (cmd) => {
      if (cmd.name() !== 'help' && !/Examples?:\n {2}(flotilla|source|printf|cat) /.test(helpOf(cmd))) missing.push(cmd.name());
    });
    expect(missing).toEqual([]);
  });

  it('completes every top-level command', () => {
    const script = bashCompletion(program);
    for (const cmd of program.commands) expect(script).toContain(cmd.name());
  });
});
