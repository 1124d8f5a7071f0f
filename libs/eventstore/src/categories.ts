/**
 * A stream's category: what comes before the first `-` of its id (`cluster` for
 * `cluster-01h…`, `node` for `node-n1`, `registry` for `registry-settings`); the whole id when it
 * has no `-`. Subscriptions and reads can be limited to categories.
 */
export function categoryOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}

const CATEGORY = /^[A-Za-z0-9_]{1,64}$/;

/** Categories are written into SQL parameters and NOTIFY payloads: letters, digits and _ only. */
export function isCategory(value: unknown): value is string {
  return typeof value === 'string' && CATEGORY.test(value);
}

/**
 * Groups an event iterator into pages: a page closes when it is full or when no further event
 * arrives within `lingerMs`. For adapters whose client delivers one event at a time.
 */
export async function* pagesOf<T>(source: AsyncIterable<T>, maxSize: number, lingerMs = 5): AsyncGenerator<T[]> {
  const it = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    for (;;) {
      const first = await (pending ?? it.next());
      pending = undefined;
      if (first.done) return;
      const page = [first.value];
      while (page.length < maxSize) {
        pending = it.next();
        let timer: NodeJS.Timeout | undefined;
        const next = await Promise.race([pending, new Promise<'idle'>((r) => (timer = setTimeout(() => r('idle'), lingerMs)))]);
        clearTimeout(timer);
        if (next === 'idle') break;
        pending = undefined;
        if (next.done) {
          yield page;
          return;
        }
        page.push(next.value);
      }
      yield page;
    }
  } finally {
    await it.return?.();
  }
}
