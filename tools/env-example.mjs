// Rewrites .env.example, the README's configuration table, deploy/compose.env and
// deploy/k8s/base/config.env from the config schema.
import fs from 'node:fs';
import path from 'node:path';
import {
  renderComposeEnv,
  renderConfigTable,
  renderEnvExample,
  renderKubernetesEnv,
} from '@flotilla/config';

const root = path.resolve(import.meta.dirname, '..');
fs.writeFileSync(path.join(root, '.env.example'), renderEnvExample());
fs.writeFileSync(path.join(root, 'deploy', 'compose.env'), renderComposeEnv());
fs.mkdirSync(path.join(root, 'deploy', 'k8s', 'base'), { recursive: true });
fs.writeFileSync(path.join(root, 'deploy', 'k8s', 'base', 'config.env'), renderKubernetesEnv());
const readmePath = path.join(root, 'README.md');
const readme = fs.readFileSync(readmePath, 'utf8');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i >= 0 && j > i) {
  fs.writeFileSync(
    readmePath,
    `${readme.slice(0, i + start.length)}\n${renderConfigTable()}\n${readme.slice(j)}`,
  );
}
process.stdout.write(
  'wrote .env.example, deploy/compose.env, deploy/k8s/base/config.env and the README configuration table\n',
);
