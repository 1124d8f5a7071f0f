import { variables } from './variables.js';

/** The text of `.env.example`: every variable, its meaning and its local default. */
export function renderEnvExample(): string {
  const lines = [
    '# Every environment variable Flotilla reads (generated from libs/config/src/variables.ts:',
    '# `npm run env:example` rewrites this file; a test fails when it drifts).',
    '# Empty values mean "use the default", which is what a local run needs.',
    '',
  ];
  for (const [name, spec] of Object.entries(variables)) {
    lines.push(`# ${spec.description} (used by: ${spec.usedBy.join(', ')})`);
    lines.push(`${name}=${spec.example}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The README's configuration table, as Markdown rows. */
export function renderConfigTable(): string {
  const rows = Object.entries(variables).map(
    ([name, spec]) => `| \`${name}\` | ${spec.example ? `\`${spec.example}\`` : '—'} | ${spec.usedBy.join(', ')} | ${spec.description} |`,
  );
  return ['| variable | default | used by | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
