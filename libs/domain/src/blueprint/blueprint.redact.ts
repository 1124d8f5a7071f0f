/**
 * What the API shows of an agent runtime. Header values of the http runtime are credentials as
 * often as not (`Authorization: Bearer …`, `X-Api-Key`), and URLs can carry them too (user info,
 * `?api_key=`): every view of a blueprint, an agent or an event replaces them with REDACTED and
 * keeps the names, so an operator still sees what is sent. The node agents get the real values
 * from the log, never from the API.
 */
export const REDACTED = '[redacted]';

/** Query parameters whose values are withheld (matched on the name, without case). */
const SECRET_PARAM = /key|token|secret|pass|pwd|auth|sig|credential|session|cookie|bearer/i;

/** The URL with its user info and secret-looking query values replaced; anything else unchanged. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = REDACTED;
    u.password = '';
    changed = true;
  }
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (!SECRET_PARAM.test(name)) continue;
    u.searchParams.set(name, REDACTED);
    changed = true;
  }
  return changed ? u.toString() : url;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A runtime (as written in a blueprint or resolved) with its secrets replaced; other values as they are. */
export function redactRuntime<T>(runtime: T): T {
  if (!isRecord(runtime)) return runtime;
  if (runtime['kind'] === 'http') {
    const out: Record<string, unknown> = { ...runtime };
    if (typeof out['url'] === 'string') out['url'] = redactUrl(out['url']);
    if (isRecord(out['headers'])) out['headers'] = Object.fromEntries(Object.keys(out['headers']).map((name) => [name, REDACTED]));
    return out as T;
  }
  if (runtime['kind'] === 'openai') {
    const out: Record<string, unknown> = { ...runtime };
    if (typeof out['baseUrl'] === 'string') out['baseUrl'] = redactUrl(out['baseUrl']);
    return out as T;
  }
  return runtime;
}

/**
 * Any JSON value (a blueprint document, an event's data) with every runtime in it redacted: an
 * object whose `kind` is `http` or `openai` next to the fields of that runtime.
 */
export function redactRuntimeSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactRuntimeSecrets(v)) as T;
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactRuntimeSecrets(v);
  const looksLikeRuntime =
    (out['kind'] === 'http' && typeof out['url'] === 'string') || (out['kind'] === 'openai' && typeof out['baseUrl'] === 'string');
  return (looksLikeRuntime ? redactRuntime(out) : out) as T;
}
