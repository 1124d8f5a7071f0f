import { Worker } from 'node:worker_threads';
import type { Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import type { CampaignEvents } from './campaign.js';

/** Messages to the lease worker. */
export type ToWorker =
  | { readonly t: 'join'; readonly role: string }
  | { readonly t: 'leave'; readonly role: string; readonly id: number }
  | { readonly t: 'handover'; readonly role: string; readonly to: string; readonly id: number }
  | { readonly t: 'epoch'; readonly id: number; readonly value?: number; readonly error?: string };

/** Messages from the lease worker. */
export type FromWorker =
  | { readonly t: 'elected'; readonly role: string; readonly term: number; readonly acquiredAt: string }
  | { readonly t: 'demoted'; readonly role: string; readonly reason: string }
  | { readonly t: 'done'; readonly id: number; readonly result: boolean }
  | { readonly t: 'epoch?'; readonly id: number }
  | { readonly t: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string; readonly fields: Record<string, unknown> };

export interface LeaseWorkerData {
  readonly servers: readonly string[];
  readonly name: string;
  readonly namespace: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly memberId: string;
  readonly ttlMs: number;
  readonly replicas: number;
  /** The main thread can allocate epochs (it has PostgreSQL). */
  readonly epochs: boolean;
  readonly requireEpoch: boolean;
}

export interface KeeperOptions {
  readonly memberId: string;
  readonly ttlMs: number;
  readonly replicas: number;
  readonly newEpoch?: () => Promise<number>;
  readonly requireEpoch: boolean;
  readonly logger?: Logger;
}

/** The worker's code, as built (it also runs from the sources' tests, which run on a build). */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../dist/lease-worker.js', here) : new URL('./lease-worker.js', here);
}

/**
 * Keeps this process's leases from a worker thread with a NATS connection of its own: renewals
 * run on the worker's event loop, so a service whose main thread is busy (a long batch, a GC
 * pause, a slow synchronous call) still renews in time, while a process that really dies (or is
 * stopped) loses its leases as before. The main thread only hears "elected" and "demoted".
 * One worker per connection and member, shared by every role the process campaigns for; a worker
 * that dies demotes every role it held and is started again.
 */
export class LeaseKeeper {
  private static readonly keepers = new WeakMap<Messaging, Map<string, LeaseKeeper>>();

  static for(messaging: Messaging, options: KeeperOptions): LeaseKeeper {
    let byMember = LeaseKeeper.keepers.get(messaging);
    if (!byMember) LeaseKeeper.keepers.set(messaging, (byMember = new Map()));
    let keeper = byMember.get(options.memberId);
    if (!keeper) byMember.set(options.memberId, (keeper = new LeaseKeeper(messaging, options)));
    return keeper;
  }

  private worker: Worker | undefined;
  private readonly roles = new Map<string, CampaignEvents>();
  private readonly pending = new Map<number, (result: boolean) => void>();
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly messaging: Messaging,
    private readonly options: KeeperOptions,
  ) {}

  async join(role: string, events: CampaignEvents): Promise<void> {
    this.roles.set(role, events);
    this.closing = false;
    this.post({ t: 'join', role });
  }

  async leave(role: string): Promise<void> {
    if (!this.roles.has(role)) return;
    await this.request((id) => ({ t: 'leave', role, id }));
    this.roles.delete(role);
    if (this.roles.size === 0) {
      this.closing = true;
      const worker = this.worker;
      this.worker = undefined;
      await worker?.terminate();
    }
  }

  handover(role: string, to: string): Promise<boolean> {
    return this.request((id) => ({ t: 'handover', role, to, id }));
  }

  private request(message: (id: number) => ToWorker): Promise<boolean> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.post(message(id));
    });
  }

  private post(message: ToWorker): void {
    this.ensureWorker().postMessage(message);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const c = this.messaging.connectionOptions;
    const data: LeaseWorkerData = {
      servers: c.servers,
      name: `${c.name}:leases`,
      namespace: c.namespace,
      user: c.user,
      password: c.password,
      memberId: this.options.memberId,
      ttlMs: this.options.ttlMs,
      replicas: this.options.replicas,
      epochs: this.options.newEpoch !== undefined,
      requireEpoch: this.options.requireEpoch,
    };
    const worker = new Worker(workerUrl(), { workerData: data });
    worker.unref();
    worker.on('message', (m: FromWorker) => this.onMessage(worker, m));
    worker.on('error', (err) => this.options.logger?.error({ err }, 'lease worker failed'));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const events of this.roles.values()) events.demoted(`lease worker exited (${code})`);
      for (const resolve of this.pending.values()) resolve(false);
      this.pending.clear();
      if (this.closing || this.roles.size === 0) return;
      // Campaign again from a new worker after a pause.
      setTimeout(() => {
        if (this.closing) return;
        for (const role of this.roles.keys()) this.post({ t: 'join', role });
      }, 500).unref();
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(worker: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'elected':
        this.roles.get(m.role)?.elected(m.term, m.acquiredAt);
        return;
      case 'demoted':
        this.roles.get(m.role)?.demoted(m.reason);
        return;
      case 'done': {
        const resolve = this.pending.get(m.id);
        this.pending.delete(m.id);
        resolve?.(m.result);
        return;
      }
      case 'epoch?':
        void (this.options.newEpoch ? this.options.newEpoch() : Promise.resolve(0)).then(
          (value) => worker.postMessage({ t: 'epoch', id: m.id, value } satisfies ToWorker),
          (err: unknown) => worker.postMessage({ t: 'epoch', id: m.id, error: (err as Error).message } satisfies ToWorker),
        );
        return;
      case 'log':
        this.options.logger?.[m.level](m.fields, m.msg);
        return;
      default: {
        const never: never = m;
        throw new Error(`unknown lease worker message ${JSON.stringify(never)}`);
      }
    }
  }
}
