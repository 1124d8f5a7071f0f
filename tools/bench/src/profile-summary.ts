// Summarises V8 CPU profiles (.cpuprofile, from node --cpu-prof): self time by function and by
// package (idle excluded), so a profile can be read without a browser.
//   node profile-summary.ts <file...> [--top N] [--window <skip-from-end-s>,<seconds>]
// --window 2,10: only the 10 s that end 2 s before the profile ends (a benchmark's workload).
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const top = Number(option('--top') ?? 25);
const window = option('--window')?.split(',').map(Number);
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));

function where(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes('/libs/') || url.includes('/apps/')) return url.replace(/^.*\/(libs|apps)\/([^/]+)\/.*$/, '$1/$2');
  if (url.startsWith('node:')) return url;
  return url ? 'other' : '(native)';
}

for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const at: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) at.push((t += d));
  const end = t - (window ? window[0]! * 1e6 : 0);
  const start = window ? end - window[1]! * 1e6 : -Infinity;
  profile.samples.forEach((id, i) => {
    if (at[i]! < start || at[i]! > end) return;
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)') return;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules|libs|apps)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const p = where(n.callFrame.url);
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  process.stdout.write(`\n== ${file}: ${(total / 1e6).toFixed(2)} s on CPU in the window\n-- by package\n`);
  for (const [k, v] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
  process.stdout.write(`-- by function (self)\n`);
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
}
