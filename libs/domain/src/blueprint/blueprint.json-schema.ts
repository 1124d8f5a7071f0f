import { z } from 'zod';
import { BlueprintSchema } from './blueprint.schema.js';

/**
 * The JSON Schema of the blueprint format, generated from the zod schema (input side: optional
 * fields are optional, defaults are annotations). scripts/generate-json-schema.ts writes it to
 * schema/blueprint.schema.json; a unit test keeps the committed file in step.
 */
export function blueprintJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(BlueprintSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** The committed file's exact text. */
export function blueprintJsonSchemaText(): string {
  return `${JSON.stringify(blueprintJsonSchema(), null, 2)}\n`;
}
