import { Inject, Injectable, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type { Config } from '@flotilla/config';
import {
  heartbeat,
  metricsSubjects,
  registrySubjects,
  telemetry,
  type Heartbeat,
  type Telemetry,
} from '@flotilla/contracts';
import { nodeHealth, type HealthStatus } from '@flotilla/domain';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { CONFIG } from '@flotilla/platform';
import { FleetMirror } from './fleet-mirror.js';

interface ClusterWindow {
  completed: number;
  failed: number;
  latencies: number[];
  since: number;
}

/**
 * What node agents report, kept in memory on every replica (telemetry and heartbeats are core
 * NATS, every replica subscribes): each node's latest telemetry and health, and per cluster the
 * task outcomes and latencies since its last snapshot. Chatty state lives here, not in events.
 */
@Injectable()
export class LiveState implements OnModuleInit, OnModuleDestroy {
  private readonly nodes = new Map<string, { telemetry: Telemetry; receivedAt: number }>();
  private readonly heartbeats = new Map<string, { beat: Heartbeat; receivedAt: number }>();
  private readonly windows = new Map<string, ClusterWindow>();
  /** Per cluster, its agents last reported busy, and when. */
  private readonly busy = new Map<string, Map<string, number>>();
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
    @Optional() private readonly fleet?: FleetMirror,
  ) {}

  onModuleInit(): void {
    const nc = this.messaging.nc;
    this.subs.push(
      nc.subscribe(this.messaging.ns.subject(metricsSubjects.telemetryAll), {
        callback: (err, msg) => {
          if (err) return;
          const parsed = telemetry.safeParse(decodeJson(msg.data));
          // The node is the subject's (only its NATS user may publish it), never the payload's.
          if (parsed.success && parsed.data.node_id === nodeOfSubject(msg.subject)) this.onTelemetry(parsed.data);
        },
      }),
      nc.subscribe(this.messaging.ns.subject(registrySubjects.heartbeats), {
        callback: (err, msg) => {
          if (err) return;
          const parsed = heartbeat.safeParse(decodeJson(msg.data));
          if (parsed.success && parsed.data.node_id === nodeOfSubject(msg.subject))
            this.heartbeats.set(parsed.data.node_id, { beat: parsed.data, receivedAt: Date.now() });
        },
      }),
    );
  }

  onModuleDestroy(): void {
    for (const s of this.subs) s.unsubscribe();
  }

  onTelemetry(t: Telemetry): void {
    const now = Date.now();
    this.nodes.set(t.node_id, { telemetry: t, receivedAt: now });
    for (const a of t.agents) {
      // A node speaks for the agents the log places on it: an agent placed on another node (or
      // on none) is not this node's to report busy, idle or finishing tasks. An agent the mirror
      // does not know yet (just placed, or still loading) is taken as reported.
      const placedOn = this.fleet?.nodeOf(a.cluster_id, a.agent_id);
      if (placedOn !== undefined && placedOn !== t.node_id) continue;
      // Busy agents indexed by cluster as they arrive: a snapshot asks per cluster, and scanning
      // every node's telemetry for each of a thousand clusters would cost clusters × agents.
      if (a.state === 'busy') {
        let busy = this.busy.get(a.cluster_id);
        if (!busy) this.busy.set(a.cluster_id, (busy = new Map()));
        busy.set(a.agent_id, now);
      } else this.busy.get(a.cluster_id)?.delete(a.agent_id);
      const w = this.window(a.cluster_id);
      w.completed += a.tasks_completed;
      w.failed += a.tasks_failed;
      for (const l of a.latencies_ms) if (w.latencies.length < 50_000) w.latencies.push(l);
    }
  }

  private window(clusterId: string): ClusterWindow {
    let w = this.windows.get(clusterId);
    if (!w)
      this.windows.set(
        clusterId,
        (w = { completed: 0, failed: 0, latencies: [], since: Date.now() }),
      );
    return w;
  }

  /** The cluster's outcomes since its last snapshot; `drain` starts a new window. */
  outcomes(clusterId: string, drain: boolean): ClusterWindow {
    const w = this.window(clusterId);
    const copy = { ...w, latencies: [...w.latencies] };
    if (drain)
      this.windows.set(clusterId, { completed: 0, failed: 0, latencies: [], since: Date.now() });
    return copy;
  }

  /** Agents reported busy right now (telemetry newer than three heartbeat intervals). */
  busyAgents(clusterId: string): Set<string> {
    const fresh = Date.now() - 3 * this.config.HEARTBEAT_INTERVAL_MS;
    const busy = new Set<string>();
    const seen = this.busy.get(clusterId);
    for (const [agentId, at] of seen ?? []) {
      if (at >= fresh) busy.add(agentId);
      else seen!.delete(agentId);
    }
    return busy;
  }

  nodeUsage(nodeIds: Iterable<string>): { cpu: number | null; memory: number | null } {
    const cpu: number[] = [];
    const mem: number[] = [];
    for (const id of nodeIds) {
      const t = this.nodes.get(id)?.telemetry;
      const h = this.heartbeats.get(id)?.beat;
      const c = t?.cpu_percent ?? h?.cpu_percent;
      const m = t?.memory_percent ?? h?.memory_percent;
      if (c !== undefined) cpu.push(c);
      if (m !== undefined) mem.push(m);
    }
    const avg = (xs: number[]) =>
      xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : null;
    return { cpu: avg(cpu), memory: avg(mem) };
  }

  nodeHealth(nodeId: string): { status: HealthStatus; score: number; reasons: string[] } | undefined {
    const h = this.heartbeats.get(nodeId);
    if (!h) return undefined;
    const r = nodeHealth({
      cpu: h.beat.cpu_percent,
      memory: h.beat.memory_percent,
      disk: h.beat.disk_percent,
      load: h.beat.load_avg,
      cores: h.beat.cores ?? 1,
      heartbeatAgeMs: Date.now() - h.receivedAt,
    });
    return { status: r.status, score: r.score, reasons: r.reasons.map((x) => x.message) };
  }
}

/** The last token of `metrics.telemetry.<nodeId>` / `registry.heartbeats.<nodeId>`. */
function nodeOfSubject(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
