import { z } from 'zod';
import { idSchema } from '@flotilla/domain';

/** An id of this kind: a TypeID (`cluster_01h…`) or a client-chosen DNS label (`cluster-test-001`). */
export const idOf = idSchema;

export const page = {
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
};

/** A log position on the wire: a decimal string (positions exceed 2^53). */
export const position = z.string().regex(/^\d+$/, 'a decimal log position');

/** Commands may ask to be answered only once the read models show their effect. */
export const waitFlag = { wait: z.union([z.boolean(), z.stringbool()]).default(false) };

/** A command may be decided without being carried out: the events it would append, nothing stored. */
export const dryRunFlag = { dry_run: z.union([z.boolean(), z.stringbool()]).default(false) };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A moment of the log: an RFC 3339 time, or a log position (a decimal string). */
export const moment = z
  .string()
  .refine(
    (s) => /^\d{1,20}$/.test(s) || (RFC3339.test(s) && !Number.isNaN(Date.parse(s))),
    'an RFC 3339 time (2026-12-06T14:03:00Z) or a log position (a decimal)',
  );

/** A moment as `?at=` gives it, parsed: a log position, or a time. */
export type Moment = { readonly position: bigint } | { readonly time: Date };

export function parseMoment(at: string): Moment {
  return /^\d+$/.test(at) ? { position: BigInt(at) } : { time: new Date(at) };
}

/** `?at=`: read the state as it was at that moment, folded from the log. */
export const atFilter = { at: moment.optional() };

/** Which moment of the log a read reflects: the last event folded into it (position 0: none yet). */
export const asOf = z.object({ position, occurred_at: z.string().nullable() });
export type AsOf = z.infer<typeof asOf>;

export const resources = z.strictObject({ cpu: z.number().positive(), memory_mb: z.number().positive() });
export type ResourcesDto = z.infer<typeof resources>;

export const isoTime = z.string();

/** A time a query filters from (`?since=`): refused with 400 unless it reads as a date-time. */
export const sinceFilter = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a date-time, e.g. 2026-11-25T12:00:00Z')
  .optional();

/** A boolean that may arrive as a query string ('true' / 'false', '1' / '0', 'yes' / 'no'). */
export const queryBool = (fallback: boolean) =>
  z.union([z.boolean(), z.stringbool()]).default(fallback);
