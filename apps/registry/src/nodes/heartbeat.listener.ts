import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { registrySubjects } from '@flotilla/contracts';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';
import { parseHeartbeat, type ParsedHeartbeat } from './heartbeat.parse.js';
import { NodeDirectory, type NodeEntry } from './node-directory.js';

/**
 * Heartbeats on core NATS. Every replica subscribes without a queue group, so each one has
 * fresh liveness data and a newly elected failure detector never starts from a blank slate.
 * Heartbeats are not events: a heartbeat touches memory only (O(1), no database write); only the
 * status changes they cause are recorded, by the failure detector.
 */
@Injectable()
export class HeartbeatListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription: Subscription | undefined;
  private readonly received: Counter<'outcome'>;
  private readonly lag: InstanceType<typeof promClient.Summary>;

  constructor(
    private readonly messaging: Messaging,
    private readonly directory: NodeDirectory,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.received = new promClient.Counter({
      name: 'flotilla_registry_heartbeats_total',
      help: 'Heartbeats received, by outcome (recorded, unknown node, malformed).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.lag = new promClient.Summary({
      name: 'flotilla_registry_heartbeat_lag_ms',
      help: 'Heartbeat processing lag: from the node stamping it to this replica recording it, in ms.',
      percentiles: [0.5, 0.9, 0.99, 0.999],
      maxAgeSeconds: 60,
      ageBuckets: 6,
      registers: [registry],
    });
  }

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.nc.subscribe(
      this.messaging.subject(registrySubjects.heartbeats),
      {
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ err }, 'heartbeat subscription error');
            return;
          }
          let raw: unknown;
          try {
            raw = decodeJson(msg.data);
          } catch {
            this.received.inc({ outcome: 'malformed' });
            return;
          }
          const beat = parseHeartbeat(raw);
          // The node is the subject's (`registry.heartbeats.<nodeId>`, which only that node's NATS
          // user may publish); a payload naming another node is a forgery, not a heartbeat.
          const subjectNode = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
          if (beat && beat.nodeId !== subjectNode) {
            this.received.inc({ outcome: 'wrong_subject' });
            this.logger.warn({ subject: msg.subject, node_id: beat.nodeId }, 'heartbeat for another node than its subject; dropped');
            return;
          }
          this.record(beat, Date.now());
        },
      },
    );
  }

  beforeApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  /**
   * An HTTP-only node's heartbeat, which arrives as a request only one replica answers: recorded
   * here and re-published on the node's heartbeat subject, so every replica (the failure
   * detector may lead on another) and the metrics service see it as they see a node agent's.
   */
  acceptRequest(raw: unknown, nowMs: number): NodeEntry | undefined {
    const entry = this.record(parseHeartbeat(raw), nowMs);
    if (entry) this.messaging.publish(registrySubjects.heartbeat(entry.nodeId), raw);
    return entry;
  }

  /** Records one heartbeat; the same beat seen again (its re-published copy) only refreshes liveness. */
  record(heartbeat: ParsedHeartbeat | null, nowMs: number): NodeEntry | undefined {
    if (!heartbeat) {
      this.received.inc({ outcome: 'malformed' });
      return undefined;
    }
    const duplicate = this.directory.get(heartbeat.nodeId)?.reading?.sentAtMs === heartbeat.reading.sentAtMs;
    const entry = this.directory.heartbeat(heartbeat.nodeId, heartbeat.reading, nowMs);
    if (entry && duplicate) return entry;
    this.received.inc({ outcome: entry ? 'recorded' : 'unknown_node' });
    if (entry) this.lag.observe(Math.max(0, nowMs - heartbeat.reading.sentAtMs));
    return entry;
  }
}
