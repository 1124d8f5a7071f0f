#!/usr/bin/env node
import { CommanderError } from 'commander';
import { assertNodeVersion, loadConfig } from '@flotilla/config';
import { ApiError } from './client.js';
import { ContextFileError } from './contexts.js';
import { buildProgram } from './program.js';
import { UsageError } from './resources.js';

assertNodeVersion();
const program = buildProgram(loadConfig());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ApiError) {
    process.stderr.write(`error: ${err.code}: ${err.message}\n`);
    if (err.details && Object.keys(err.details as object).length) process.stderr.write(`${JSON.stringify(err.details, null, 2)}\n`);
    process.exit(err.status === 0 ? 69 : 1);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(64);
  }
  if (err instanceof ContextFileError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  }
  // Commander has printed the mistake (or the help) already.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 64);
  throw err;
}
