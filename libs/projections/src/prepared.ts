import { createHash } from 'node:crypto';
import type pg from 'pg';

const names = new Map<string, string>();

/**
 * A query as a named (prepared) statement: PostgreSQL parses it once per connection and, after a
 * few executions, plans it once too, instead of parsing and planning every batch's statements
 * again (the projector's statements have fixed texts; only their values change). The name is a
 * hash of the text, so one text always has one name, as node-postgres requires.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = names.get(text);
  if (!name) {
    name = `flotilla_rm_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return { name, text, values };
}
