import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { throwError, type Observable } from 'rxjs';
import { InternalError, NotFoundError, PayloadTooLargeError, toFlotillaError, ValidationError, type ErrorCode, type FlotillaError } from '@flotilla/domain';

/** The one place where error codes become HTTP statuses. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  already_exists: 409,
  concurrency_conflict: 409,
  conflict: 409,
  payload_too_large: 413,
  rule_violated: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  timeout: 503,
};

/** Errors Nest or Fastify raise on their own (bad JSON, body too large, unknown route). */
function fromHttpException(err: HttpException): FlotillaError {
  const status = err.getStatus();
  if (status === 413) return new PayloadTooLargeError(err.message);
  if (status === 404) return new NotFoundError(err.message);
  if (status >= 400 && status < 500) return new ValidationError(err.message);
  return new InternalError(err.message);
}

function fromFastifyError(err: { statusCode?: number; code?: string; message: string }): FlotillaError | undefined {
  if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new PayloadTooLargeError('request body is too large');
  if (err.statusCode === 415) return new ValidationError(`unsupported content type: ${err.message}`);
  if (err.statusCode === 400) return new ValidationError(err.message);
  return undefined;
}

export function asFlotillaError(exception: unknown): FlotillaError {
  if (exception instanceof HttpException) return fromHttpException(exception);
  const fastify = typeof exception === 'object' && exception !== null && 'statusCode' in exception ? fromFastifyError(exception as never) : undefined;
  return fastify ?? toFlotillaError(exception);
}

export interface HttpError {
  readonly status: number;
  readonly body: { readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> } };
  readonly headers: Record<string, string>;
  readonly internal: boolean;
}

/** Any thrown value as the HTTP answer: status from HTTP_STATUS, body `{error: {code, message, details}}`. */
export function httpErrorOf(exception: unknown): HttpError {
  const error = asFlotillaError(exception);
  const status = HTTP_STATUS[error.code] ?? 500;
  const internal = error.code === 'internal';
  const headers: Record<string, string> = {};
  if (error.code === 'rate_limited' && typeof error.details['retry_after_s'] === 'number') headers['Retry-After'] = String(Math.ceil(error.details['retry_after_s']));
  if (status === 503) headers['Retry-After'] ??= '1';
  return {
    status,
    internal,
    headers,
    // Internal errors never leak their message or details to clients (they are logged).
    body: internal ? { error: { code: error.code, message: 'internal error', details: {} } } : { error: { code: error.code, message: error.message, details: { ...error.details } } },
  };
}

/**
 * Global filter for both transports. Over NATS, the error travels unchanged to the transport,
 * which encodes it as a typed envelope; over HTTP it becomes `{error: {code, message, details}}`
 * with the status from HTTP_STATUS. Internal errors never leak their stack or message details.
 */
@Catch()
export class FlotillaExceptionFilter implements ExceptionFilter {
  constructor(private readonly onInternal?: (err: unknown) => void) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() === 'rpc') return throwError(() => exception);
    const http = httpErrorOf(exception);
    if (http.internal) this.onInternal?.(exception);
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    void reply.headers(http.headers).status(http.status).send(http.body);
  }
}
