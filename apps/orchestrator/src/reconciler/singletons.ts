import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import pg from 'pg';
import type { Config } from '@flotilla/config';
import type { EventStore } from '@flotilla/eventstore';
import { Fence, LeaderElection } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, SERVICE_INFO, type ServiceInfo } from '@flotilla/platform';
import {
  EventRelay,
  ORCHESTRATOR_PROJECTIONS,
  Projector,
  projectorMetrics,
  type ReadModelOrm,
} from '@flotilla/projections';
import type { Logger, Registry } from '@flotilla/telemetry';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
import { CircuitBreakers } from '../tasks/circuit-breakers.js';
import { Reconciler } from './reconciler.js';
import { FENCE } from './tokens.js';

export { FENCE };

export const fenceProvider = {
  provide: FENCE,
  inject: [CONFIG],
  useFactory: async (config: Config) => {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
    pool.on('error', () => undefined);
    const fence = new Fence(pool);
    await fence.ensureSchema();
    return fence;
  },
};

/**
 * The orchestrator's singleton loops, each run by exactly one replica at a time (a lease per
 * role): the relay (event store → JetStream), the projector (read models), the reconciler and
 * the circuit breakers.
 * Every replica campaigns; a loop stops the moment its replica loses the lease.
 */
@Injectable()
export class SingletonLoops implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly elections: LeaderElection[] = [];

  constructor(
    private readonly messaging: Messaging,
    private readonly reconciler: Reconciler,
    private readonly breakers: CircuitBreakers,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const relay = new EventRelay(this.messaging, this.store, this.orm, {
      logger: this.logger,
      replicas: this.config.NATS_STREAM_REPLICAS,
    });
    // The stream exists before anybody subscribes to it, whoever leads the relay.
    await relay.ensureStream();
    const projector = new Projector(this.orm, this.store, ORCHESTRATOR_PROJECTIONS, {
      logger: this.logger,
      ...projectorMetrics(this.registry),
    });
    const loops: Record<string, (signal: AbortSignal, term: number) => Promise<void>> = {
      relay: (signal) => relay.run(signal),
      'projector-orchestrator': (signal) => projector.run(signal),
      reconciler: (signal, term) => this.reconciler.run(signal, term),
      'circuit-breaker': (signal, term) => this.breakers.run(signal, term),
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
            // A loop that fails is restarted while this replica still leads.
            while (!leadership.signal.aborted) {
              try {
                await loop(leadership.signal, leadership.term);
                if (!leadership.signal.aborted) await new Promise((r) => setTimeout(r, 200));
              } catch (err) {
                if (leadership.signal.aborted) break;
                this.logger.error({ err, role }, 'singleton loop failed; restarting');
                await new Promise((r) => setTimeout(r, 1000));
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
    await Promise.all(this.elections.map((e) => e.stop()));
  }
}
