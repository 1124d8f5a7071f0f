import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { renderConfigTable, renderEnvExample } from './env-example.js';
import { variables } from './variables.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

describe('documented configuration', () => {
  it('.env.example lists every variable (run `npm run env:example` after adding one)', () => {
    expect(fs.readFileSync(path.join(root, '.env.example'), 'utf8')).toBe(renderEnvExample());
  });

  it('the README configuration table lists every variable', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(renderConfigTable());
    for (const name of Object.keys(variables)) expect(readme).toContain(`\`${name}\``);
  });
});
