import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { UnavailableError } from '@flotilla/domain';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { HealthService, LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { EVENT_STORE } from '../infrastructure/tokens.js';
import { sleep } from '../infrastructure/concurrency.js';
import { REGISTRY_SETTINGS_STREAM } from '../settings/registry-settings.decider.js';
import { NodeCommands } from './node-commands.service.js';
import { isNodeStream, nodeIdOfStream, NodeDirectory } from './node-directory.js';

/** What the directory is made of: the node streams and the registry's settings stream. */
export const DIRECTORY_CATEGORIES = ['node', 'registry'];

/**
 * Feeds this replica's directory from the event log: every replica follows the node streams and
 * the registry settings from the start (catch-up, then live; the store reads only those
 * categories). The replica is ready (and answers queries and placements) once it has caught up
 * with the head of those streams as it was at start.
 */
@Injectable()
export class DirectoryFeed implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly controller = new AbortController();
  private following: Promise<void> = Promise.resolve();
  private caughtUp = false;
  /** Log position of the last event applied to the directory. */
  private position = 0n;
  private readonly positionWaiters = new Set<{ target: bigint; resolve: () => void }>();
  private markReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    private readonly directory: NodeDirectory,
    private readonly nodes: NodeCommands,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LOGGER) private readonly logger: Logger,
    health: HealthService,
  ) {
    health.register('node_directory', async () => {
      if (!this.caughtUp) throw new Error('still reading the event log');
    });
  }

  get ready(): boolean {
    return this.caughtUp;
  }

  onApplicationBootstrap(): void {
    this.following = this.follow(this.controller.signal);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.controller.abort();
    await this.following;
  }

  /** Resolves once caught up; throws UnavailableError after `timeoutMs` (or when aborted). */
  async whenReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.caughtUp) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UnavailableError('the registry is still reading the event log', {
              dependency: 'registry',
            }),
          ),
        timeoutMs,
      );
      signal?.addEventListener(
        'abort',
        () =>
          reject(
            new UnavailableError('stopped waiting for the registry to catch up', {
              dependency: 'registry',
            }),
          ),
        { once: true },
      );
    });
    try {
      await Promise.race([this.readyPromise, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async follow(signal: AbortSignal): Promise<void> {
    let after = 0n;
    let head: bigint | undefined;
    while (!signal.aborted) {
      try {
        head ??= await this.store.headPosition({ categories: DIRECTORY_CATEGORIES });
        if (head === 0n) this.markCaughtUp();
        const sub = this.store.subscribeToAll({ after, batchSize: 1000, signal, categories: DIRECTORY_CATEGORIES });
        for await (const page of sub.pages()) {
          for (const event of page) {
            await this.apply(event);
            after = event.position;
          }
          this.advance(after);
          if (!this.caughtUp && after >= head) this.markCaughtUp();
        }
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err }, 'event log subscription failed; resuming');
        await sleep(500, signal);
      }
    }
  }

  /**
   * Resolves once the directory has applied every event up to `target` (a log position read just
   * before), so a decision made next sees every node change committed before it was asked for,
   * whichever replica wrote it. Throws UnavailableError after `timeoutMs`.
   */
  async caughtUpTo(target: bigint, timeoutMs: number): Promise<void> {
    if (this.position >= target) return;
    let waiter: { target: bigint; resolve: () => void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          waiter = { target, resolve };
          this.positionWaiters.add(waiter);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new UnavailableError('the registry is behind the event log', {
                  dependency: 'registry',
                  position: target.toString(),
                }),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (waiter) this.positionWaiters.delete(waiter);
    }
  }

  private advance(position: bigint): void {
    this.position = position;
    for (const w of this.positionWaiters) {
      if (position >= w.target) {
        this.positionWaiters.delete(w);
        w.resolve();
      }
    }
  }

  private markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.logger.info({ nodes: this.directory.size }, 'node directory caught up with the event log');
    this.markReady();
  }

  private async apply(event: StoredEvent): Promise<void> {
    if (isNodeStream(event.streamId)) {
      const outcome = this.directory.applyStored(event, Date.now());
      if (outcome === 'gap') {
        const nodeId = nodeIdOfStream(event.streamId);
        this.logger.warn(
          { nodeId, revision: event.revision.toString() },
          'node stream out of step with the directory; reloading it',
        );
        await this.nodes.refresh(nodeId);
      }
    } else if (event.streamId === REGISTRY_SETTINGS_STREAM) {
      this.directory.applySettings(event);
    }
  }
}
