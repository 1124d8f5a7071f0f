import fs from 'node:fs';
import path from 'node:path';

export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
  failedSuites: string[];
}

/**
 * Sums the per-project Jest results the totals reporter wrote. A suite that failed to run
 * (it did not even load) counts as one failed test, so it can never hide behind "0 failed".
 */
export function summarize(dir: string): Totals {
  const totals: Totals = { passed: 0, failed: 0, skipped: 0, failedSuites: [] };
  if (!fs.existsSync(dir)) return totals;
  // One file per project and kind, named after the Nx project (`@flotilla/domain.unit.json`),
  // which is what lets Nx restore it from its cache when the tests themselves are a cache hit.
  const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();
  for (const file of files) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
      passed: number;
      failed: number;
      skipped: number;
      failedSuites: number;
    };
    totals.passed += r.passed;
    totals.skipped += r.skipped;
    const unloaded = Math.max(0, r.failedSuites - r.failed);
    totals.failed += r.failed + unloaded;
    if (r.failedSuites > 0) totals.failedSuites.push(file.replace(/\.json$/, ''));
  }
  return totals;
}
