import { setTimeout as delay } from 'node:timers/promises';
import type { Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';
import { FencedOutError } from './fence.js';
import { LeaderElection } from './lease.js';

/** A loop that must run in one replica at a time; `term` is the fencing token of its lease. */
export type SingletonLoop = (signal: AbortSignal, term: number) => Promise<void>;

export interface SingletonLoopsOptions {
  readonly memberId: string;
  readonly ttlMs: number;
  readonly replicas?: number;
  readonly logger?: Logger;
  /** Pause before a loop that failed starts again (while this replica still leads). Default 1 s. */
  readonly restartDelayMs?: number;
  /** Lease epochs (see termOf): the service's PostgreSQL sequence. */
  readonly newEpoch?: () => Promise<number>;
}

/** What one role's loop is doing in this replica. */
export interface SingletonStatus {
  readonly role: string;
  readonly leading: boolean;
  readonly term: number | undefined;
  /**
   * Leads, but its writes were refused as superseded (a newer term wrote): it cannot make
   * progress until it leads again with a newer term. Health reports it.
   */
  readonly fencedOut: boolean;
}

export interface SingletonLoopsHandle {
  status(): SingletonStatus[];
  /** Stands down from every role (deleting each lease so a successor takes over at once). */
  stop(): Promise<void>;
}

/**
 * Campaigns for each role and runs its loop while this replica holds the role's lease. A loop
 * that returns or throws is started again after a pause, as long as the replica still leads; a
 * loop is stopped (its signal aborts) the moment the lease is lost.
 */
export async function runSingletonLoops(messaging: Messaging, loops: Readonly<Record<string, SingletonLoop>>, options: SingletonLoopsOptions): Promise<SingletonLoopsHandle> {
  const elections: LeaderElection[] = [];
  const fenced = new Map<string, number>();
  const restartDelayMs = options.restartDelayMs ?? 1000;
  for (const [role, loop] of Object.entries(loops)) {
    const election = new LeaderElection(
      messaging,
      {
        role,
        memberId: options.memberId,
        ttlMs: options.ttlMs,
        // Renewals run on a worker thread: a busy event loop here never costs the lease.
        isolated: true,
        ...(options.newEpoch ? { newEpoch: options.newEpoch } : { requireEpoch: true }),
        ...(options.logger ? { logger: options.logger } : {}),
        onLead: async ({ signal, term }) => {
          fenced.delete(role);
          while (!signal.aborted) {
            try {
              await loop(signal, term);
              if (!signal.aborted) await delay(200, undefined, { signal }).catch(() => undefined);
            } catch (err) {
              if (signal.aborted) break;
              if (err instanceof FencedOutError) fenced.set(role, term);
              options.logger?.error({ err, role, term }, 'singleton loop failed; restarting');
              await delay(restartDelayMs, undefined, { signal }).catch(() => undefined);
            }
          }
        },
      },
      options.replicas ?? 1,
    );
    await election.start();
    elections.push(election);
  }
  return {
    status: () =>
      elections.map((e) => ({
        role: e.role,
        leading: e.isLeader,
        term: e.term,
        fencedOut: e.isLeader && fenced.get(e.role) === e.term,
      })),
    stop: async () => {
      await Promise.all(elections.map((e) => e.stop()));
    },
  };
}
