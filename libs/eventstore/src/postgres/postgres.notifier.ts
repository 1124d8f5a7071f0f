import pg from 'pg';
import { isCategory } from '../categories.js';

interface Waiter {
  readonly categories: ReadonlySet<string> | null;
  readonly wake: () => void;
}

/**
 * One LISTEN connection per store, shared by its subscriptions. A notification names the stream
 * categories of the appends it announces (`cluster,node`; empty: any). Every notification bumps
 * generation counters (one for everything, one per category); a subscription notes the
 * generation of what it follows before it reads and, once caught up, waits only if that has not
 * moved since, so a commit that lands between its read and its wait is never slept through. A
 * subscription limited to categories sleeps through appends to the others.
 */
export class PgNotifier {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  /** Bumped by every notification. */
  private anyGen = 0;
  /** Bumped by notifications that concern every category (unlabelled ones, reconnects). */
  private allGen = 0;
  private readonly categoryGen = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly channel: string,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Moves whenever an append to one of `categories` (any append, without them) may have committed. */
  generation(categories?: readonly string[]): number {
    if (!categories) return this.anyGen;
    let g = this.allGen;
    for (const c of categories) g += this.categoryGen.get(c) ?? 0;
    return g;
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /** Resolves once LISTEN is active (so no commit after this point can go unannounced). */
  ensureListening(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /**
   * Resolves when a notification arrived after generation `seen`, after `timeoutMs` (the fallback
   * poll: an aborted transaction that held readers back announces nothing), or on abort.
   */
  async waitForChange(seen: number, timeoutMs: number, signal: AbortSignal, categories?: readonly string[]): Promise<void> {
    if (this.generation(categories) !== seen || signal.aborted || this.closed) return;
    if (!this.client) {
      // The LISTEN connection was lost: re-establish it in the background and poll meanwhile.
      this.ensureListening().catch((err: unknown) => this.onError(err as Error));
    }
    await new Promise<void>((resolve) => {
      const waiter: Waiter = {
        categories: categories ? new Set(categories) : null,
        wake: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          signal.removeEventListener('abort', waiter.wake);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, timeoutMs);
      this.waiters.add(waiter);
      signal.addEventListener('abort', waiter.wake, { once: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    this.bump();
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.clientConfig);
    client.on('notification', (n) => this.bump(parseCategories(n.payload)));
    client.on('error', (err) => {
      this.onError(err);
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    // Commits made while nobody listened announced nothing: make every waiter re-read.
    this.bump();
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.bump();
    client.end().catch(() => undefined);
  }

  /** `categories` null: a change anywhere (every waiter wakes). */
  private bump(categories: readonly string[] | null = null): void {
    this.anyGen++;
    if (categories === null) this.allGen++;
    else for (const c of categories) this.categoryGen.set(c, (this.categoryGen.get(c) ?? 0) + 1);
    for (const waiter of [...this.waiters]) {
      if (categories === null || waiter.categories === null || categories.some((c) => waiter.categories!.has(c))) waiter.wake();
    }
  }
}

function parseCategories(payload: string | undefined): string[] | null {
  if (!payload) return null;
  const categories = payload.split(',').filter(isCategory);
  return categories.length ? categories : null;
}
