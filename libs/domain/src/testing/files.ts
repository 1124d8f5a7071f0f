import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Test-only file access (the library itself does no I/O). */
export const DOMAIN_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const REPO_ROOT = path.resolve(DOMAIN_ROOT, '..', '..');
export const EXAMPLES_DIR = path.join(REPO_ROOT, 'examples', 'blueprints');
export const BROKEN_DIR = path.join(DOMAIN_ROOT, 'src', 'blueprint', 'fixtures', 'broken');

export const readText = (file: string): string => readFileSync(file, 'utf8');
export const listYaml = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
export const readExample = (name: string): string => readText(path.join(EXAMPLES_DIR, name));
