import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import {
  detectNodeTransitions,
  type NodeCommand,
  type NodeHeartbeatView,
  type NodeTransition,
} from '@flotilla/domain';
import { Fence, FencedOutError } from '@flotilla/leadership';
import { CONFIG, LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { Semaphore, sleep } from '../infrastructure/concurrency.js';
import { systemContext } from '../infrastructure/request-context.js';
import { FENCE } from '../infrastructure/tokens.js';
import { DirectoryFeed } from '../nodes/directory-feed.js';
import { NodeCommands } from '../nodes/node-commands.service.js';
import { NodeDirectory, type NodeEntry } from '../nodes/node-directory.js';

export const FAILURE_DETECTOR_ROLE = 'failure-detector';
/** How often the detector looks; detection lands within this of a threshold being crossed. */
export const DETECTOR_TICK_MS = 50;
const WRITE_CONCURRENCY = 16;

/**
 * The nodes worth a look this tick, as the domain's detector wants them: those silent past the
 * suspect threshold and those not online (which may recover). A cheap numeric scan over every
 * node; only the handful of candidates go through detectNodeTransitions.
 *
 * `since` is when this leader started leading: silence is counted from no earlier than that, so
 * a leader whose own view is stale (it was partitioned, paused or just started) gives every node
 * a full window instead of declaring the whole fleet dead.
 */
export function livenessCandidates(
  entries: Iterable<NodeEntry>,
  nowMs: number,
  since: number,
  suspectAfterMs: number,
  skip?: ReadonlySet<string>,
): NodeHeartbeatView[] {
  const out: NodeHeartbeatView[] = [];
  for (const entry of entries) {
    const status = entry.state.status;
    if (status === 'deregistered' || skip?.has(entry.nodeId)) continue;
    const last = Math.max(entry.lastSeenMs, since);
    if (nowMs - last > suspectAfterMs || status === 'suspect' || status === 'offline') {
      out.push({ nodeId: entry.nodeId, status, lastHeartbeatAt: last });
    }
  }
  return out;
}

/**
 * Silence after a restart or failover is counted from the leader's election (see
 * livenessCandidates), which says nothing about a node being alive: a node the log has as suspect
 * or offline recovers only on a heartbeat this replica really received, recently.
 */
export function confirmedTransitions(
  transitions: readonly NodeTransition[],
  entryOf: (nodeId: string) => NodeEntry | undefined,
  nowMs: number,
  suspectAfterMs: number,
): NodeTransition[] {
  return transitions.filter((t) => {
    if (t.command !== 'MarkNodeRecovered') return true;
    const heard = entryOf(t.nodeId)?.lastHeartbeatMs;
    return heard !== null && heard !== undefined && nowMs - heard <= suspectAfterMs;
  });
}

/** The node command that records a transition, with what the detector knew. */
export function transitionCommand(
  t: NodeTransition,
  lastSeenMs: number,
  nowMs: number,
): NodeCommand {
  const metadata = { now: new Date(nowMs).toISOString() };
  if (t.command === 'MarkNodeRecovered')
    return { type: 'MarkNodeRecovered', data: { reason: 'heartbeats resumed' }, metadata };
  return {
    type: t.command,
    data: {
      reason: `no heartbeat for ${t.silenceMs} ms`,
      lastHeartbeatAt: new Date(lastSeenMs).toISOString(),
    },
    metadata,
  };
}

/**
 * Turns heartbeat silence into NodeSuspected / NodeWentOffline (naming the agents to orphan) and
 * resumed heartbeats into NodeRecovered. Runs in one replica at a time (a lease); every write
 * carries the fence of this leader's term into its append (checked in the append's transaction),
 * and the term is admitted once on election too,
 * so a deposed leader that resumes after a pause (with a view of the fleet that is now stale)
 * cannot record a single late transition.
 */
@Injectable()
export class FailureDetector {
  constructor(
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly nodes: NodeCommands,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal, term: number): Promise<void> {
    await this.feed.whenReady(60_000, signal);
    // Claim the fence at once: from here on any write carrying an older term is refused, even if
    // the deposed leader never learns that it was deposed.
    await this.fence.admit(FAILURE_DETECTOR_ROLE, term);
    const since = Date.now();
    const thresholds = {
      suspectAfterMs: this.config.NODE_SUSPECT_AFTER_MS,
      offlineAfterMs: this.config.NODE_OFFLINE_AFTER_MS,
    };
    this.logger.info({ term, ...thresholds }, 'failure detector leading');
    const inflight = new Set<string>();
    const writes = new Semaphore(WRITE_CONCURRENCY);
    const pending = new Set<Promise<void>>();
    const stop: { fenced?: FencedOutError } = {};
    while (!signal.aborted && !stop.fenced) {
      const now = Date.now();
      const candidates = livenessCandidates(
        this.directory.entries(),
        now,
        since,
        thresholds.suspectAfterMs,
        inflight,
      );
      const transitions = confirmedTransitions(
        detectNodeTransitions(candidates, now, thresholds),
        (id) => this.directory.get(id),
        now,
        thresholds.suspectAfterMs,
      );
      for (const t of transitions) {
        // One write per node at a time: the next tick sees the result through the directory.
        inflight.add(t.nodeId);
        const entry = this.directory.get(t.nodeId);
        const lastSeen = entry?.lastHeartbeatMs ?? entry?.lastSeenMs ?? since;
        const write = writes
          .run(() => this.record(t, transitionCommand(t, lastSeen, now), term, signal))
          .catch((err: unknown) => {
            if (err instanceof FencedOutError) stop.fenced = err;
            else if (!signal.aborted)
              this.logger.warn(
                { err, nodeId: t.nodeId, command: t.command },
                'could not record a liveness transition; retrying',
              );
          })
          .finally(() => {
            inflight.delete(t.nodeId);
            pending.delete(write);
          });
        pending.add(write);
      }
      await sleep(DETECTOR_TICK_MS, signal);
    }
    await Promise.allSettled([...pending]);
    if (stop.fenced) {
      this.logger.warn(
        { term, current_term: stop.fenced.details['current_term'] },
        'failure detector fenced out: a newer leader has written; this one stops',
      );
      throw stop.fenced;
    }
  }

  private async record(
    t: NodeTransition,
    command: NodeCommand,
    term: number,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return;
    const result = await this.nodes.execute(
      t.nodeId,
      command,
      systemContext(FAILURE_DETECTOR_ROLE, { role: FAILURE_DETECTOR_ROLE, term }),
    );
    if (result.events.length > 0) {
      this.logger.info(
        {
          nodeId: t.nodeId,
          from: t.from,
          to: t.to,
          silence_ms: t.silenceMs,
          events: result.events.map((e) => e.type),
        },
        'node liveness changed',
      );
    }
  }
}
