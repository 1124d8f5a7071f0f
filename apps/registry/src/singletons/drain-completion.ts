import { Inject, Injectable } from '@nestjs/common';
import { RuleViolationError } from '@flotilla/domain';
import { Fence } from '@flotilla/leadership';
import { LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { sleep } from '../infrastructure/concurrency.js';
import { nowIso, systemContext } from '../infrastructure/request-context.js';
import { FENCE } from '../infrastructure/tokens.js';
import { DirectoryFeed } from '../nodes/directory-feed.js';
import { NodeCommands } from '../nodes/node-commands.service.js';
import { NodeDirectory, type NodeEntry } from '../nodes/node-directory.js';

export const DRAIN_COMPLETION_ROLE = 'drain-completion';
const SWEEP_MS = 500;

/** Draining nodes with nothing left on them, not even a placement in flight. */
export function emptyDrainingNodes(entries: Iterable<NodeEntry>): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (
      e.state.status === 'draining' &&
      Object.keys(e.state.assignments).length === 0 &&
      e.reserved.size === 0
    )
      out.push(e.nodeId);
  }
  return out;
}

/**
 * Records CompleteDrain → NodeDrained for a draining node once it hosts no agent. The release of
 * the last agent usually records NodeDrained itself (the node decider does it); this loop covers
 * the other ways a node can end up empty while draining (a drain started on a node whose agents
 * were released by a deregistration, a release recorded before the drain began, a crash between
 * the two). One replica at a time (a lease), fenced like every singleton write.
 */
@Injectable()
export class DrainCompletion {
  constructor(
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly nodes: NodeCommands,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal, term: number): Promise<void> {
    await this.feed.whenReady(60_000, signal);
    await this.fence.admit(DRAIN_COMPLETION_ROLE, term);
    while (!signal.aborted) {
      for (const nodeId of emptyDrainingNodes(this.directory.entries())) {
        if (signal.aborted) break;
        try {
          const result = await this.nodes.execute(
            nodeId,
            { type: 'CompleteDrain', data: {}, metadata: { now: nowIso() } },
            systemContext(DRAIN_COMPLETION_ROLE, { role: DRAIN_COMPLETION_ROLE, term }),
          );
          if (result.events.length > 0) this.logger.info({ nodeId }, 'drain complete');
        } catch (err) {
          // node_not_empty / node_not_draining: the view was a step behind; the next sweep decides again.
          if (!(err instanceof RuleViolationError)) throw err;
        }
      }
      await sleep(SWEEP_MS, signal);
    }
  }
}
