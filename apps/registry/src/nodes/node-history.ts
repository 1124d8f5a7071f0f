import { Inject, Injectable } from '@nestjs/common';
import type { AsOf, Moment } from '@flotilla/contracts';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { EVENT_STORE } from '@flotilla/platform';
import { DIRECTORY_CATEGORIES } from './directory-feed.js';
import { isNodeStream, NodeDirectory } from './node-directory.js';
import { REGISTRY_SETTINGS_STREAM } from '../settings/registry-settings.decider.js';

const PAGE = 1000;

/**
 * The fleet as it was at any moment of the log (`?at=` on the node and assignment reads): a
 * fresh NodeDirectory fed the node and registry streams up to that moment, exactly as a replica's
 * own directory is fed from the log, so "now" and "then" are built by the same code. What the
 * log does not hold is absent from it: heartbeat readings (usage, health, last heartbeat) and
 * in-flight reservations. It folds the fleet's log from its start; a moment is read in one pass
 * over the node categories' index.
 */
@Injectable()
export class NodeHistory {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async at(moment: Moment): Promise<{ directory: NodeDirectory; asOf: AsOf }> {
    const directory = new NodeDirectory();
    let last: StoredEvent | null = null;
    let after = 0n;
    for (;;) {
      const page = await this.store.readAll({ after, limit: PAGE, categories: DIRECTORY_CATEGORIES });
      for (const e of page) {
        if ('position' in moment ? e.position > moment.position : e.occurredAt.getTime() > moment.time.getTime()) {
          return { directory, asOf: asOf(last) };
        }
        if (isNodeStream(e.streamId)) directory.applyStored(e, 0);
        else if (e.streamId === REGISTRY_SETTINGS_STREAM) directory.applySettings(e);
        last = e;
      }
      if (page.length < PAGE) return { directory, asOf: asOf(last) };
      after = page[page.length - 1]!.position;
    }
  }
}

const asOf = (e: StoredEvent | null): AsOf => ({ position: (e?.position ?? 0n).toString(), occurred_at: e?.occurredAt.toISOString() ?? null });
