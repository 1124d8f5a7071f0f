import pg from 'pg';

/**
 * One LISTEN connection per store, shared by its subscriptions. Every notification bumps a
 * generation counter; a subscription notes the generation before it reads and, once caught up,
 * waits only if the counter has not moved since, so a commit that lands between its read and its
 * wait is never slept through.
 */
export class PgNotifier {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private gen = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly channel: string,
    private readonly onError: (err: Error) => void,
  ) {}

  get generation(): number {
    return this.gen;
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
  async waitForChange(seen: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.gen !== seen || signal.aborted || this.closed) return;
    if (!this.client) {
      // The LISTEN connection was lost: re-establish it in the background and poll meanwhile.
      this.ensureListening().catch((err: unknown) => this.onError(err as Error));
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
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
    client.on('notification', () => this.bump());
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

  private bump(): void {
    this.gen++;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}
