/**
 * Writes schema/blueprint.schema.json from the zod schema (z.toJSONSchema). Run it after changing
 * blueprint.schema.ts:
 *   npm run generate:schema -w @flotilla/domain      (or: node libs/domain/scripts/generate-json-schema.ts)
 * A unit test fails while the committed file differs from what this script would write.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import './source-hooks.ts';

const { blueprintJsonSchemaText } = (await import('../src/blueprint/blueprint.json-schema.ts')) as {
  blueprintJsonSchemaText: () => string;
};

const out = path.resolve(import.meta.dirname, '..', 'schema', 'blueprint.schema.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, blueprintJsonSchemaText());
process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
