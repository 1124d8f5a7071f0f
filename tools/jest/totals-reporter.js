// Writes a project's Jest totals to a JSON file; the root test command sums these files into
// the one "N passed, M failed" line CI prints last.
import fs from 'node:fs';
import path from 'node:path';

export default class TotalsReporter {
  constructor(_globalConfig, options) {
    this.file = options.file;
  }

  onRunComplete(_contexts, results) {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const failedSuites = results.numFailedTestSuites + results.numRuntimeErrorTestSuites;
    fs.writeFileSync(
      this.file,
      JSON.stringify({
        passed: results.numPassedTests,
        failed: results.numFailedTests,
        skipped: results.numPendingTests + results.numTodoTests,
        failedSuites,
        success: results.success && failedSuites === 0,
      }),
    );
  }
}
