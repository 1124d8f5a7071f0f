import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Config } from '@flotilla/config';
import type { EventStore } from '@flotilla/eventstore';
import { LeaderElection } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, SERVICE_INFO, type ServiceInfo } from '@flotilla/platform';
import { Projector, projectorMetrics, REGISTRY_PROJECTIONS, type ReadModelOrm } from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { sleep } from '../infrastructure/concurrency.js';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
import { DRAIN_COMPLETION_ROLE, DrainCompletion } from './drain-completion.js';
import { FAILURE_DETECTOR_ROLE, FailureDetector } from './failure-detector.js';
import { RESERVATION_REAPER_ROLE, ReservationReaper } from './reservation-reaper.js';

export const PROJECTOR_ROLE = 'projector-registry';

/**
 * The registry's singleton loops, each run by exactly one replica at a time (a lease per role in
 * NATS KV): the read-model projector, the failure detector, drain completion and the reservation
 * reaper. Every replica campaigns for every role; a loop stops the moment its replica loses the
 * lease, and a loop that fails is restarted while the replica still leads.
 */
@Injectable()
export class SingletonLoops implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly elections: LeaderElection[] = [];

  constructor(
    private readonly messaging: Messaging,
    private readonly detector: FailureDetector,
    private readonly drains: DrainCompletion,
    private readonly reaper: ReservationReaper,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  get leading(): string[] {
    return this.elections.filter((e) => e.isLeader).map((e) => e.role);
  }

  async onApplicationBootstrap(): Promise<void> {
    const projector = new Projector(this.orm, this.store, REGISTRY_PROJECTIONS, {
      logger: this.logger,
      ...projectorMetrics(this.registry),
    });
    const loops: Record<string, (signal: AbortSignal, term: number) => Promise<void>> = {
      [PROJECTOR_ROLE]: (signal) => projector.run(signal),
      [FAILURE_DETECTOR_ROLE]: (signal, term) => this.detector.run(signal, term),
      [DRAIN_COMPLETION_ROLE]: (signal, term) => this.drains.run(signal, term),
      [RESERVATION_REAPER_ROLE]: (signal, term) => this.reaper.run(signal, term),
    };
    for (const [role, loop] of Object.entries(loops)) {
      const election = new LeaderElection(
        this.messaging,
        {
          role,
          memberId: this.info.instanceId,
          ttlMs: this.config.LEASE_TTL_MS,
          logger: this.logger,
          onLead: async (leadership) => {
            while (!leadership.signal.aborted) {
              try {
                await loop(leadership.signal, leadership.term);
                if (!leadership.signal.aborted) await sleep(200, leadership.signal);
              } catch (err) {
                if (leadership.signal.aborted) break;
                this.logger.error({ err, role }, 'singleton loop failed; restarting');
                await sleep(1000, leadership.signal);
              }
            }
          },
        },
        this.config.NATS_STREAM_REPLICAS,
      );
      await election.start();
      this.elections.push(election);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Standing down deletes each lease key, so another replica takes over at once.
    await Promise.all(this.elections.map((e) => e.stop()));
  }
}
