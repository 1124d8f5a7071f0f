import { FlotillaError, InternalError, UnavailableError } from '@flotilla/domain';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);
/** SQLSTATEs meaning "the database cannot serve us right now", not "the request is wrong". */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '28000',
  '28P01',
]);
/** Failures worth retrying the whole append for (nothing was written). */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isUniqueViolation(err: unknown, constraint: string): boolean {
  return codeOf(err) === '23505' && (err as { constraint?: string }).constraint === constraint;
}

export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && RETRYABLE_SQLSTATES.has(code);
}

export function isUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (code && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08')))
    return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Cannot use a pool after calling end/i.test(
    message,
  );
}

/** Turns whatever the driver threw into a typed error: UnavailableError for an outage, else InternalError. */
export function toStoreError(err: unknown, operation: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err);
  if (isUnavailable(err)) {
    return new UnavailableError(`event store unavailable during ${operation}: ${message}`, {
      dependency: 'postgresql',
      operation,
      ...(code ? { cause: code } : {}),
    });
  }
  return new InternalError(`event store ${operation} failed: ${message}`, {
    dependency: 'postgresql',
    operation,
    ...(code ? { cause: code } : {}),
  });
}
