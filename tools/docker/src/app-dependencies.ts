// The production dependencies of one app, computed from what its build output really imports.
//
//   node tools/docker/src/app-dependencies.ts <app>              report (after `nx run @flotilla/<app>:build`)
//   node tools/docker/src/app-dependencies.ts <app> --json       the plan as JSON
//   node tools/docker/src/app-dependencies.ts <app> --out DIR    stage the runtime package (deploy/Dockerfile)
//
// Walks the import graph of the app's dist from its entry, through the @flotilla/* libraries it
// reaches (their dist, via package.json "exports"), collects the bare specifiers, maps them to
// packages at the exact versions of the root package.json, and cuts package-lock.json down to
// their closure. Exits 1 naming the file when an import is undeclared, dev-only or unresolvable.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { planApp, stageApp } from './stage.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
    root: { type: 'string' },
  },
});
const app = positionals[0];
if (!app) {
  process.stderr.write(
    'usage: node tools/docker/src/app-dependencies.ts <app> [--out DIR] [--json] [--root DIR]\n',
  );
  process.exit(2);
}
const root = path.resolve(values.root ?? path.join(import.meta.dirname, '..', '..', '..'));
let plan: ReturnType<typeof planApp>;
try {
  plan = planApp(root, app);
} catch (err) {
  process.stderr.write(`app-dependencies: ${(err as Error).message}\n`);
  process.exit(2);
}

for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
if (plan.problems.length) {
  process.stderr.write(
    `${plan.app.name}: ${plan.problems.length} problem(s):\n  ${plan.problems.join('\n  ')}\n`,
  );
  process.exit(1);
}

if (values.json) {
  process.stdout.write(
    `${JSON.stringify(
      {
        app: plan.app.name,
        entry: plan.entry,
        files: plan.graph.files.size,
        dependencies: plan.external,
        importedBy: Object.fromEntries(plan.importedBy),
        workspaces: plan.local,
        lockfilePackages: Object.keys(plan.lockfile.packages).length - 1,
        installScripts: plan.installScripts,
      },
      null,
      2,
    )}\n`,
  );
} else {
  const deps = Object.entries(plan.external);
  process.stdout.write(
    [
      `${plan.app.name}: ${plan.graph.files.size} modules from ${plan.entry}`,
      `  ${deps.length} external packages: ${deps.map(([n, v]) => `${n}@${v}`).join(', ')}`,
      `  ${plan.local.length} workspace libraries: ${plan.local.map((l) => l.name).join(', ')}`,
      `  ${Object.keys(plan.lockfile.packages).length - 1 - plan.local.length * 2} packages installed in all (lockfile closure)`,
      ...(plan.installScripts.length
        ? [`  with install scripts: ${plan.installScripts.join(', ')}`]
        : []),
      '',
    ].join('\n'),
  );
}

if (values.out) {
  const out = path.resolve(values.out);
  const { files } = stageApp(plan, out);
  process.stdout.write(`staged ${plan.app.name} in ${out} (${files} files)\n`);
}
