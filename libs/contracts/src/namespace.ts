/**
 * Every NATS name Flotilla uses goes through a Namespace. In production the namespace is
 * empty and names are exactly the public contract (`flotilla.events.>`, `FLOTILLA_EVENTS`);
 * tests and side-by-side stacks set FLOTILLA_NAMESPACE so they never see each other's
 * messages, streams or buckets on a shared server.
 */
export class Namespace {
  constructor(readonly prefix: string = '') {
    if (prefix && !/^[a-z][a-z0-9_-]{0,31}$/.test(prefix)) {
      throw new Error(
        `invalid namespace '${prefix}': a lowercase token of up to 32 letters, digits, - or _`,
      );
    }
  }

  /** A subject (or wildcard pattern) under this namespace. */
  subject(subject: string): string {
    return this.prefix ? `${this.prefix}.${subject}` : subject;
  }

  /** Strips the namespace from a received subject. */
  unprefix(subject: string): string {
    return this.prefix && subject.startsWith(`${this.prefix}.`)
      ? subject.slice(this.prefix.length + 1)
      : subject;
  }

  /** A JetStream stream or durable consumer name. */
  stream(name: string): string {
    return this.prefix ? `${this.prefix.toUpperCase().replace(/-/g, '_')}_${name}` : name;
  }

  /** A KV or object store bucket name. */
  bucket(name: string): string {
    return this.prefix ? `${this.prefix}_${name}` : name;
  }
}
