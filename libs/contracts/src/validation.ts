import type { z } from 'zod';
import { formatPath, ValidationError, type ValidationIssue } from '@flotilla/domain';

/**
 * One issue per bad path. An unknown field is named by its own path (`capacity.gpu`), not by
 * the object that holds it, so a client learns which field the endpoint does not know.
 */
export function issuesFromZod(error: z.ZodError): ValidationIssue[] {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: formatPath([...i.path, key]), message: 'unknown field: this endpoint does not take it' }))
      : [{ path: formatPath(i.path), message: i.message }],
  );
}

/** Parses with a schema or throws a ValidationError that names every bad path. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what = 'request',
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw ValidationError.of(issuesFromZod(result.error), what);
}
