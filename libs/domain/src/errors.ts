/**
 * Typed errors. Every error Flotilla raises on purpose is a FlotillaError with a stable `code`;
 * the gateway maps codes to HTTP statuses in one place and the messaging library carries them
 * across NATS in one place, so a remote failure arrives as the same class it left as.
 */
export const ErrorCodes = {
  validation: 'validation_failed',
  unauthenticated: 'unauthenticated',
  forbidden: 'forbidden',
  notFound: 'not_found',
  alreadyExists: 'already_exists',
  concurrency: 'concurrency_conflict',
  conflict: 'conflict',
  ruleViolated: 'rule_violated',
  payloadTooLarge: 'payload_too_large',
  rateLimited: 'rate_limited',
  unavailable: 'unavailable',
  timeout: 'timeout',
  internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface ErrorEnvelope {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

export abstract class FlotillaError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  toEnvelope(): ErrorEnvelope {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export interface ValidationIssue {
  /** Where the problem is, e.g. `agents[2].reportsTo`; empty for the document as a whole. */
  readonly path: string;
  readonly message: string;
}

/** Bad input: names every offending path. Maps to 400. */
export class ValidationError extends FlotillaError {
  readonly code = ErrorCodes.validation;
  readonly issues: readonly ValidationIssue[];

  constructor(message: string, issues: readonly ValidationIssue[] = [], details: ErrorDetails = {}) {
    super(message, { ...details, issues });
    this.issues = issues;
  }

  static of(issues: readonly ValidationIssue[], what = 'input'): ValidationError {
    const summary = issues
      .slice(0, 5)
      .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    return new ValidationError(`invalid ${what}: ${summary}${more}`, issues);
  }
}

export class UnauthenticatedError extends FlotillaError {
  readonly code = ErrorCodes.unauthenticated;
}

export class ForbiddenError extends FlotillaError {
  readonly code = ErrorCodes.forbidden;
}

/** The thing asked for does not exist (or is not visible to the caller). Maps to 404. */
export class NotFoundError extends FlotillaError {
  readonly code = ErrorCodes.notFound;

  static of(kind: string, id: string): NotFoundError {
    return new NotFoundError(`${kind} '${id}' was not found`, { kind, id });
  }
}

/** Creating something whose id is taken. Maps to 409. */
export class AlreadyExistsError extends FlotillaError {
  readonly code = ErrorCodes.alreadyExists;

  static of(kind: string, id: string): AlreadyExistsError {
    return new AlreadyExistsError(`${kind} '${id}' already exists`, { kind, id });
  }
}

/** An optimistic-concurrency check failed (expected revision did not match). Maps to 409. */
export class ConcurrencyError extends FlotillaError {
  readonly code = ErrorCodes.concurrency;
}

/**
 * A write by a singleton leader whose lease term has been superseded (a newer leader has
 * written): refused, so a paused, deposed leader cannot write late.
 */
export class FencedOutError extends ConcurrencyError {
  constructor(role: string, term: number, current: number) {
    super(`the leader of '${role}' with term ${term} was superseded by term ${current}; its write is refused`, {
      reason: 'fenced_out',
      role,
      term,
      current_term: current,
    });
  }
}

/**
 * The request conflicts with the resource's current state in a way the caller can resolve by
 * changing that state first (a task for a hibernated cluster that does not wake on tasks).
 * `reason` says what. Maps to 409.
 */
export class ConflictError extends FlotillaError {
  readonly code = ErrorCodes.conflict;
}

/**
 * A well-formed request that the current state forbids (scaling beyond max, scaling a
 * hibernated cluster...). `rule` is a stable identifier of the broken rule. Maps to 422.
 */
export class RuleViolationError extends FlotillaError {
  readonly code = ErrorCodes.ruleViolated;

  constructor(rule: string, message: string, details: ErrorDetails = {}) {
    super(message, { ...details, rule });
  }

  get rule(): string {
    return String(this.details['rule']);
  }
}

export class PayloadTooLargeError extends FlotillaError {
  readonly code = ErrorCodes.payloadTooLarge;
}

export class RateLimitedError extends FlotillaError {
  readonly code = ErrorCodes.rateLimited;
}

/** A dependency (NATS, PostgreSQL, another service) is down. Maps to 503. */
export class UnavailableError extends FlotillaError {
  readonly code = ErrorCodes.unavailable;
}

/** A dependency did not answer in time. Maps to 503 (504 would blame a gateway). */
export class TimeoutError extends FlotillaError {
  readonly code = ErrorCodes.timeout;
}

/** A bug or an unexpected failure; details never carry stack traces across the wire. */
export class InternalError extends FlotillaError {
  readonly code = ErrorCodes.internal;
}

type SimpleCode = Exclude<ErrorCode, 'validation_failed' | 'rule_violated'>;
const byCode: Record<SimpleCode, new (message: string, details?: ErrorDetails) => FlotillaError> = {
  unauthenticated: UnauthenticatedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  concurrency_conflict: ConcurrencyError,
  conflict: ConflictError,
  payload_too_large: PayloadTooLargeError,
  rate_limited: RateLimitedError,
  unavailable: UnavailableError,
  timeout: TimeoutError,
  internal: InternalError,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (Object.values(ErrorCodes) as string[]).includes(value);
}

/** Rebuilds the typed error an envelope describes (the inverse of `toEnvelope`). */
export function errorFromEnvelope(envelope: ErrorEnvelope): FlotillaError {
  const details = envelope.details ?? {};
  switch (envelope.code) {
    case ErrorCodes.validation:
      return new ValidationError(
        envelope.message,
        Array.isArray(details['issues']) ? (details['issues'] as ValidationIssue[]) : [],
        details,
      );
    case ErrorCodes.ruleViolated:
      return new RuleViolationError(String(details['rule'] ?? 'unknown'), envelope.message, details);
    default: {
      const Ctor = isErrorCode(envelope.code) ? byCode[envelope.code] : InternalError;
      // Unknown codes (a newer peer) degrade to InternalError rather than failing to decode.
      return new Ctor(envelope.message, details);
    }
  }
}

/** Wraps anything thrown into a FlotillaError, keeping typed errors as they are. */
export function toFlotillaError(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message);
}
