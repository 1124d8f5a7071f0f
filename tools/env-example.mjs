// Rewrites .env.example and the README's configuration table from the config schema.
import fs from 'node:fs';
import path from 'node:path';
import { renderConfigTable, renderEnvExample } from '@flotilla/config';

const root = path.resolve(import.meta.dirname, '..');
fs.writeFileSync(path.join(root, '.env.example'), renderEnvExample());
const readmePath = path.join(root, 'README.md');
const readme = fs.readFileSync(readmePath, 'utf8');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i >= 0 && j > i) {
  fs.writeFileSync(readmePath, `${readme.slice(0, i + start.length)}\n${renderConfigTable()}\n${readme.slice(j)}`);
}
process.stdout.write('wrote .env.example and the README configuration table\n');
