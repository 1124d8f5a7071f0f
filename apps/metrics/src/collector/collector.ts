import { setTimeout as delay } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { metricsSubjects, type ClusterSnapshot } from '@flotilla/contracts';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY, SingletonLoopsRuntime } from '@flotilla/platform';
import type { ReadModelOrm } from '@flotilla/projections';
import { promClient, type Gauge, type Logger, type Registry } from '@flotilla/telemetry';
import { READ_MODELS } from '../tokens.js';
import { applyRetention } from './retention.js';
import { FleetMirror } from './fleet-mirror.js';
import { Snapshots } from './snapshots.service.js';
import { BudgetWatch } from '../cost/budget-watch.js';

const TICK_MS = 1000;
const RETENTION_EVERY_MS = 60_000;

/**
 * The periodic snapshots, taken by one replica (a lease): every cluster at its blueprint's
 * monitoring interval (METRICS_INTERVAL_MS when it sets none). Each is stored in cluster_metrics,
 * published on `metrics.snapshots.<clusterId>` for the autoscaler (so nothing polls the database
 * on the hot path) and exposed as Prometheus gauges. Once a minute, raw rows older than
 * METRICS_RAW_RETENTION_MS become 1-minute rollups and old rollups are deleted.
 */
@Injectable()
export class Collector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly gauges: Record<string, Gauge<string>>;
  private readonly lastTaken = new Map<string, number>();

  constructor(
    private readonly snapshots: Snapshots,
    private readonly mirror: FleetMirror,
    private readonly messaging: Messaging,
    private readonly budgets: BudgetWatch,
    private readonly runtime: SingletonLoopsRuntime,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    const gauge = (name: string, help: string) =>
      new promClient.Gauge({ name, help, labelNames: ['cluster'], registers: [registry] });
    this.gauges = {
      queue: gauge('flotilla_cluster_queue_depth', 'Tasks waiting in the cluster queues'),
      workers: gauge('flotilla_cluster_workers', 'Running workers'),
      busy: gauge('flotilla_cluster_agents_busy', 'Agents executing a task'),
      tpm: gauge('flotilla_cluster_tasks_per_minute', 'Tasks completed per minute'),
      errors: gauge('flotilla_cluster_error_rate', 'Share of task attempts that failed'),
      p95: gauge('flotilla_cluster_latency_p95_ms', 'Task latency p95 in ms'),
      health: gauge('flotilla_cluster_health_score', 'Cluster health score in [0, 1]'),
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.runtime.start({ 'metrics-collector': (signal) => this.run(signal), 'budget-watch': (signal) => this.budgets.run(signal) });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }

  private async run(signal: AbortSignal): Promise<void> {
    await this.mirror.whenReady();
    let lastRetention = 0;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        const due = this.snapshots.activeClusters().filter((row) => {
          const every =
            row.monitoringIntervalS > 0
              ? row.monitoringIntervalS * 1000
              : this.config.METRICS_INTERVAL_MS;
          return started - (this.lastTaken.get(row.id) ?? 0) >= every;
        });
        if (due.length > 0) {
          // One request for every queue's depth, one statement for the round's snapshots.
          const depths = await this.snapshots.depths();
          const taken = due.map((row) => {
            this.lastTaken.set(row.id, started);
            return this.snapshots.fromHeld(row, depths.get(row.id));
          });
          await this.snapshots.persist(taken);
          for (const { snapshot } of taken) {
            this.messaging.publish(metricsSubjects.snapshot(snapshot.cluster_id), snapshot);
            this.export(snapshot);
          }
        }
        if (started - lastRetention >= RETENTION_EVERY_MS) {
          lastRetention = started;
          await this.applyRetention();
        }
      } catch (err) {
        if (!signal.aborted) this.logger.warn({ err }, 'snapshot round failed');
      }
      await delay(TICK_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  private export(s: ClusterSnapshot): void {
    const labels = { cluster: s.cluster_id };
    this.gauges['queue']!.set(labels, s.queue.total);
    this.gauges['workers']!.set(labels, s.workers);
    this.gauges['busy']!.set(labels, s.agents.busy);
    this.gauges['tpm']!.set(labels, s.tasks_per_minute);
    this.gauges['errors']!.set(labels, s.error_rate);
    if (s.latency_ms.p95 !== null) this.gauges['p95']!.set(labels, s.latency_ms.p95);
    this.gauges['health']!.set(labels, s.health.score);
  }

  applyRetention(now: Date = new Date()) {
    return applyRetention(
      this.orm,
      now,
      this.config.METRICS_RAW_RETENTION_MS,
      this.config.METRICS_ROLLUP_RETENTION_MS,
    );
  }
}
