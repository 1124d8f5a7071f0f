import type { AgentSpec, Resources } from '@flotilla/domain';

/** An agent the log assigns to this node. */
export interface AssignedAgent {
  readonly agentId: string;
  readonly clusterId: string;
  /** The cluster's tenant (null in assignments recorded before it was carried): whose egress allow-list applies. */
  readonly tenantId: string | null;
  readonly resources: Resources;
  /** Null for an assignment recorded without one (it cannot run; reported failed). */
  readonly spec: AgentSpec | null;
  readonly assignedAt: string;
}

export type AssignmentChange =
  | { readonly kind: 'assigned'; readonly agent: AssignedAgent }
  | { readonly kind: 'released'; readonly agentId: string; readonly reason: string }
  | { readonly kind: 'none' };

/** A node event as the relay publishes it (the fields this fold reads). */
export interface NodeEventMessage {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export interface AssignmentSnapshot {
  readonly version: 1;
  readonly nodeId: string;
  readonly lastSeq: number;
  readonly agents: readonly AssignedAgent[];
}

/**
 * This node's assignments folded from its events in stream order: AgentAssigned adds an agent,
 * AgentReleased removes it, NodeDeregistered clears the node. `lastSeq` is the stream sequence
 * of the last event folded, so a redelivered or replayed event is recognised and skipped.
 */
export class AssignmentBook {
  private readonly agentsById = new Map<string, AssignedAgent>();
  private lastReason = new Map<string, string>();
  private seq = 0;

  constructor(readonly nodeId: string) {}

  get lastSeq(): number {
    return this.seq;
  }

  get agents(): ReadonlyMap<string, AssignedAgent> {
    return this.agentsById;
  }

  /** Why an agent was last released (for its stop report). */
  releaseReason(agentId: string): string {
    return this.lastReason.get(agentId) ?? 'released';
  }

  apply(seq: number, event: NodeEventMessage): AssignmentChange {
    if (seq <= this.seq) return { kind: 'none' };
    this.seq = seq;
    const d = event.data;
    switch (event.type) {
      case 'AgentAssigned': {
        const agentId = String(d['agentId']);
        const agent: AssignedAgent = {
          agentId,
          clusterId: String(d['clusterId']),
          tenantId: typeof d['tenantId'] === 'string' ? d['tenantId'] : null,
          resources: (d['resources'] ?? { cpu: 0, memoryMb: 0 }) as Resources,
          spec: (d['agent'] as AgentSpec | undefined) ?? null,
          assignedAt: String(d['at'] ?? ''),
        };
        this.agentsById.set(agentId, agent);
        this.lastReason.delete(agentId);
        return { kind: 'assigned', agent };
      }
      case 'AgentReleased': {
        const agentId = String(d['agentId']);
        if (!this.agentsById.delete(agentId)) return { kind: 'none' };
        const reason = typeof d['reason'] === 'string' ? d['reason'] : 'released';
        this.lastReason.set(agentId, reason);
        return { kind: 'released', agentId, reason };
      }
      case 'NodeDeregistered': {
        for (const agentId of this.agentsById.keys())
          this.lastReason.set(agentId, 'node deregistered');
        this.agentsById.clear();
        return { kind: 'none' };
      }
      default:
        return { kind: 'none' };
    }
  }

  snapshot(): AssignmentSnapshot {
    return {
      version: 1,
      nodeId: this.nodeId,
      lastSeq: this.seq,
      agents: [...this.agentsById.values()],
    };
  }

  static restore(snapshot: AssignmentSnapshot): AssignmentBook {
    const book = new AssignmentBook(snapshot.nodeId);
    book.seq = snapshot.lastSeq;
    // Copies saved before assignments carried the tenant have none: only `*` allowances apply.
    for (const a of snapshot.agents) book.agentsById.set(a.agentId, { ...a, tenantId: a.tenantId ?? null });
    book.lastReason = new Map();
    return book;
  }

  static isSnapshot(value: unknown, nodeId: string): value is AssignmentSnapshot {
    const v = value as Partial<AssignmentSnapshot> | null;
    return (
      typeof v === 'object' &&
      v !== null &&
      v.version === 1 &&
      v.nodeId === nodeId &&
      typeof v.lastSeq === 'number' &&
      Number.isSafeInteger(v.lastSeq) &&
      Array.isArray(v.agents) &&
      v.agents.every((a) => typeof a?.agentId === 'string' && typeof a?.clusterId === 'string')
    );
  }
}
