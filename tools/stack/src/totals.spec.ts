import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { summarize } from './totals.ts';

describe('summarize', () => {
  it('adds up projects and counts a suite that failed to load as a failure', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'totals-'));
    fs.writeFileSync(path.join(dir, 'a.unit.json'), JSON.stringify({ passed: 10, failed: 0, skipped: 1, failedSuites: 0 }));
    fs.mkdirSync(path.join(dir, '@flotilla'));
    fs.writeFileSync(path.join(dir, '@flotilla', 'b.int.json'), JSON.stringify({ passed: 3, failed: 1, skipped: 0, failedSuites: 2 }));
    expect(summarize(dir)).toEqual({ passed: 13, failed: 2, skipped: 1, failedSuites: ['@flotilla/b.int'] });
    fs.rmSync(dir, { recursive: true });
  });

  it('reads an absent directory as nothing run', () => {
    expect(summarize('/nonexistent/flotilla')).toEqual({ passed: 0, failed: 0, skipped: 0, failedSuites: [] });
  });
});
