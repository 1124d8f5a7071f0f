import {
  nodeDecider,
  type ExistingNode,
  type ExistingPlacement,
  type NodeEvent,
  type NodeSnapshot,
  type NodeState,
  type Resources,
} from '@flotilla/domain';
import {
  evolveSettings,
  initialSettings,
  type RegistrySettings,
  type RegistrySettingsEvent,
} from '../settings/registry-settings.decider.js';

/** What the latest heartbeat said; replaced wholesale by the next one. */
export interface HeartbeatReading {
  readonly sentAtMs: number;
  readonly cpuPercent: number;
  readonly memoryPercent: number;
  readonly diskPercent: number;
  readonly loadAvg: number;
  readonly cores: number | null;
  readonly agents: readonly {
    readonly agentId: string;
    readonly clusterId: string;
    readonly state: string;
  }[];
}

/** Capacity held for a placement decided in memory whose AgentAssigned is still being written. */
export interface Reservation {
  readonly agentId: string;
  readonly clusterId: string;
  readonly resources: Resources;
}

/**
 * One node as this replica knows it: the state folded from its stream (with the revision it is
 * at), when this replica last heard from it, its latest readings, and in-flight reservations.
 */
export interface NodeEntry {
  readonly nodeId: string;
  state: ExistingNode;
  revision: bigint;
  /**
   * Local clock, ms: the last sign of life this replica saw (a heartbeat, a registration), or
   * when it learned of the node. Silence is counted from here.
   */
  lastSeenMs: number;
  /** Local clock, ms: the last heartbeat this replica actually received (null: none yet). */
  lastHeartbeatMs: number | null;
  reading: HeartbeatReading | null;
  readonly reserved: Map<string, Reservation>;
  reservedCpu: number;
  reservedMemoryMb: number;
}

export interface StoredNodeEvent {
  readonly streamId: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly revision: bigint;
}

export type ApplyOutcome = 'applied' | 'duplicate' | 'gap';

/** A directory's log-derived content (no readings, reservations or clocks), as stored JSON. */
export interface DirectorySnapshot {
  readonly nodes: readonly { readonly nodeId: string; readonly revision: string; readonly state: ExistingNode }[];
  readonly settings: RegistrySettings;
  readonly settingsRevision: string;
}

const NODE_PREFIX = 'node-';

/**
 * The registry's live, in-memory view of every node: what placement, the failure detector, the
 * queries and the heartbeat path read. Every replica keeps one, fed by the event log (each
 * replica follows it from the start) and by heartbeats (every replica subscribes, no queue
 * group), so a replica that becomes leader already has fresh data.
 *
 * Two sources write node states here, and they may race: the log subscription and the results
 * of this replica's own commands. Each entry remembers the stream revision its state is at; an
 * event at or below it is a duplicate, a command result is taken only when it is newer. So the
 * view never goes backwards, whichever of the two arrives first.
 *
 * The heartbeat path is O(1): a map lookup and three field writes, no allocation beyond the
 * parsed reading and no I/O.
 */
export class NodeDirectory {
  private readonly nodes = new Map<string, NodeEntry>();
  /** agentId → the nodes that hold it (assigned in the log, or reserved in flight). */
  private readonly byAgent = new Map<string, { clusterId: string; nodes: Set<string> }>();
  /** clusterId → its agents that some node holds. */
  private readonly byCluster = new Map<string, Set<string>>();
  private settingsState: RegistrySettings = initialSettings();
  private settingsRevision = -1n;

  get size(): number {
    return this.nodes.size;
  }

  get settings(): RegistrySettings {
    return this.settingsState;
  }

  get(nodeId: string): NodeEntry | undefined {
    return this.nodes.get(nodeId);
  }

  entries(): IterableIterator<NodeEntry> {
    return this.nodes.values();
  }

  /** An event read from the log (in log order). */
  applyStored(event: StoredNodeEvent, nowMs: number): ApplyOutcome {
    const nodeId = event.streamId.slice(NODE_PREFIX.length);
    const entry = this.nodes.get(nodeId);
    const at = entry?.revision ?? -1n;
    if (event.revision <= at) return 'duplicate';
    if (event.revision !== at + 1n) return 'gap';
    const before: NodeState = entry?.state ?? nodeDecider.initialState();
    const after = nodeDecider.evolve(before, {
      type: event.type,
      data: event.data,
    } as unknown as NodeEvent);
    this.install(nodeId, after, event.revision, nowMs);
    return 'applied';
  }

  /** A state folded by the command handler (after this replica's own command, or a reload). */
  applyState(nodeId: string, state: NodeState, revision: bigint, nowMs: number): void {
    const entry = this.nodes.get(nodeId);
    if (entry && revision <= entry.revision) return;
    this.install(nodeId, state, revision, nowMs);
  }

  applySettings(event: {
    readonly type: string;
    readonly data: Record<string, unknown>;
    readonly revision: bigint;
  }): void {
    if (event.revision <= this.settingsRevision) return;
    this.settingsState = evolveSettings(this.settingsState, {
      type: event.type,
      data: event.data,
    } as unknown as RegistrySettingsEvent);
    this.settingsRevision = event.revision;
  }

  applySettingsState(state: RegistrySettings, revision: bigint): void {
    if (revision <= this.settingsRevision) return;
    this.settingsState = state;
    this.settingsRevision = revision;
  }

  /** What the log put here (node states and settings, with their revisions), as JSON: a snapshot for reads of the past. */
  toSnapshot(): DirectorySnapshot {
    return {
      nodes: [...this.nodes.values()].map((e) => ({ nodeId: e.nodeId, revision: e.revision.toString(), state: e.state })),
      settings: this.settingsState,
      settingsRevision: this.settingsRevision.toString(),
    };
  }

  /** A directory holding what a snapshot says, as if it had been fed the log up to there. */
  static fromSnapshot(snapshot: DirectorySnapshot): NodeDirectory {
    const directory = new NodeDirectory();
    for (const n of snapshot.nodes) directory.applyState(n.nodeId, n.state, BigInt(n.revision), 0);
    if (BigInt(snapshot.settingsRevision) >= 0n) directory.applySettingsState(snapshot.settings, BigInt(snapshot.settingsRevision));
    return directory;
  }

  /** Records a heartbeat; `undefined` when the node is unknown here (not registered, or not caught up yet). */
  heartbeat(nodeId: string, reading: HeartbeatReading, nowMs: number): NodeEntry | undefined {
    const entry = this.nodes.get(nodeId);
    if (!entry) return undefined;
    entry.lastSeenMs = nowMs;
    entry.lastHeartbeatMs = nowMs;
    entry.reading = reading;
    return entry;
  }

  /** A sign of life other than a heartbeat (a registration answered by this replica). */
  touch(nodeId: string, nowMs: number): void {
    const entry = this.nodes.get(nodeId);
    if (entry && entry.lastSeenMs < nowMs) entry.lastSeenMs = nowMs;
  }

  reserve(nodeId: string, reservation: Reservation): void {
    const entry = this.nodes.get(nodeId);
    if (!entry || entry.reserved.has(reservation.agentId)) return;
    entry.reserved.set(reservation.agentId, reservation);
    entry.reservedCpu += reservation.resources.cpu;
    entry.reservedMemoryMb += reservation.resources.memoryMb;
    this.index(reservation.agentId, reservation.clusterId, nodeId, true);
  }

  unreserve(nodeId: string, agentId: string): void {
    const entry = this.nodes.get(nodeId);
    const reservation = entry?.reserved.get(agentId);
    if (!entry || !reservation) return;
    this.dropReservation(entry, reservation);
    this.index(
      agentId,
      reservation.clusterId,
      nodeId,
      entry.state.assignments[agentId] !== undefined,
    );
  }

  /** The nodes holding the agent, those with a recorded assignment first. */
  nodesOf(agentId: string): string[] {
    const held = this.byAgent.get(agentId);
    if (!held) return [];
    const recorded: string[] = [];
    const reserved: string[] = [];
    for (const nodeId of held.nodes) {
      if (this.nodes.get(nodeId)?.state.assignments[agentId]) recorded.push(nodeId);
      else reserved.push(nodeId);
    }
    return [...recorded.sort(), ...reserved.sort()];
  }

  /** Nodes with a recorded (not merely reserved) assignment of the agent. */
  assignedNodesOf(agentId: string): string[] {
    return this.nodesOf(agentId).filter(
      (nodeId) => this.nodes.get(nodeId)?.state.assignments[agentId] !== undefined,
    );
  }

  /** Where the clusters' agents are (recorded or reserved): what anti-affinity and zone spread count. */
  placementsOf(clusterIds: Iterable<string>): ExistingPlacement[] {
    const out: ExistingPlacement[] = [];
    for (const clusterId of new Set(clusterIds)) {
      for (const agentId of this.byCluster.get(clusterId) ?? []) {
        for (const nodeId of this.byAgent.get(agentId)?.nodes ?? [])
          out.push({ agentId, clusterId, nodeId });
      }
    }
    return out;
  }

  /**
   * What placement sees: every node that is not deregistered, its usage including in-flight
   * reservations, and its latest measured utilisation. `unschedulable` nodes are shown as
   * cordoned (a move never lands on the node it leaves).
   */
  snapshots(unschedulable?: string): NodeSnapshot[] {
    const out: NodeSnapshot[] = [];
    for (const entry of this.nodes.values()) {
      const s = entry.state;
      if (s.status === 'deregistered') continue;
      const r = entry.reading;
      out.push({
        nodeId: entry.nodeId,
        status: entry.nodeId === unschedulable && s.status === 'online' ? 'cordoned' : s.status,
        role: s.role,
        zone: s.zone,
        labels: s.labels,
        services: s.services,
        capacity: s.capacity,
        used: {
          cpu: s.used.cpu + entry.reservedCpu,
          memoryMb: s.used.memoryMb + entry.reservedMemoryMb,
          agents: s.used.agents + entry.reserved.size,
        },
        health: r
          ? { cpu: r.cpuPercent, memory: r.memoryPercent, disk: r.diskPercent, load: r.loadAvg }
          : { cpu: 0, memory: 0, disk: 0, load: 0 },
        priority: s.priority,
      });
    }
    return out;
  }

  private install(nodeId: string, next: NodeState, revision: bigint, nowMs: number): void {
    if (next.status === 'none') return;
    let entry = this.nodes.get(nodeId);
    const previous = entry?.state.assignments ?? {};
    if (!entry) {
      // A node this replica has just learned of counts as heard from now: after a restart (or a
      // failover) every node gets a full silence window before anybody calls it dead.
      entry = {
        nodeId,
        state: next,
        revision,
        lastSeenMs: nowMs,
        lastHeartbeatMs: null,
        reading: null,
        reserved: new Map(),
        reservedCpu: 0,
        reservedMemoryMb: 0,
      };
      this.nodes.set(nodeId, entry);
    } else {
      entry.state = next;
      entry.revision = revision;
    }
    const current = next.assignments;
    for (const agentId of Object.keys(current)) {
      // A reservation whose assignment the log now shows is done: its capacity is in `used`.
      const reservation = entry.reserved.get(agentId);
      if (reservation) this.dropReservation(entry, reservation);
      if (!previous[agentId]) this.index(agentId, current[agentId]!.clusterId, nodeId, true);
    }
    for (const [agentId, assignment] of Object.entries(previous)) {
      if (!current[agentId])
        this.index(agentId, assignment.clusterId, nodeId, entry.reserved.has(agentId));
    }
  }

  private dropReservation(entry: NodeEntry, reservation: Reservation): void {
    entry.reserved.delete(reservation.agentId);
    entry.reservedCpu -= reservation.resources.cpu;
    entry.reservedMemoryMb -= reservation.resources.memoryMb;
    if (entry.reserved.size === 0) {
      // Float drift must not leave phantom capacity behind.
      entry.reservedCpu = 0;
      entry.reservedMemoryMb = 0;
    }
  }

  private index(agentId: string, clusterId: string, nodeId: string, holds: boolean): void {
    let held = this.byAgent.get(agentId);
    if (holds) {
      if (!held) this.byAgent.set(agentId, (held = { clusterId, nodes: new Set() }));
      held.nodes.add(nodeId);
      let agents = this.byCluster.get(clusterId);
      if (!agents) this.byCluster.set(clusterId, (agents = new Set()));
      agents.add(agentId);
      return;
    }
    if (!held) return;
    held.nodes.delete(nodeId);
    if (held.nodes.size > 0) return;
    this.byAgent.delete(agentId);
    const agents = this.byCluster.get(held.clusterId);
    agents?.delete(agentId);
    if (agents?.size === 0) this.byCluster.delete(held.clusterId);
  }
}

export const isNodeStream = (streamId: string): boolean => streamId.startsWith(NODE_PREFIX);
export const nodeIdOfStream = (streamId: string): string => streamId.slice(NODE_PREFIX.length);
