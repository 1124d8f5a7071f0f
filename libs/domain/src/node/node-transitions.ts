import { ValidationError } from '../errors.js';
import { type Instant, toMillis } from '../time.js';
import type { NodeStatus } from './node.state.js';

export interface NodeHeartbeatView {
  readonly nodeId: string;
  readonly status: NodeStatus;
  readonly lastHeartbeatAt: Instant;
}

export interface LivenessThresholds {
  /** Silence after which an online node becomes suspect. */
  readonly suspectAfterMs: number;
  /** Silence after which a node is offline (its agents are orphaned). */
  readonly offlineAfterMs: number;
}

export interface NodeTransition {
  readonly nodeId: string;
  readonly from: NodeStatus;
  readonly to: 'suspect' | 'offline' | 'online';
  /** The node command that records it. */
  readonly command: 'MarkNodeSuspect' | 'MarkNodeOffline' | 'MarkNodeRecovered';
  readonly silenceMs: number;
}

/**
 * The liveness transitions the failure detector should record, from each node's last heartbeat:
 * online → suspect → offline as silence grows, suspect/offline → online once heartbeats are
 * fresh again. Cordoned and draining nodes are live nodes for this purpose.
 */
export function detectNodeTransitions(
  nodes: readonly NodeHeartbeatView[],
  now: Instant,
  { suspectAfterMs, offlineAfterMs }: LivenessThresholds,
): NodeTransition[] {
  if (!(suspectAfterMs > 0 && offlineAfterMs > suspectAfterMs)) {
    throw ValidationError.of([{ path: 'offlineAfterMs', message: 'expected 0 < suspectAfterMs < offlineAfterMs' }]);
  }
  const nowMs = toMillis(now);
  const out: NodeTransition[] = [];
  for (const node of nodes) {
    if (node.status === 'deregistered') continue;
    const silenceMs = Math.max(0, nowMs - toMillis(node.lastHeartbeatAt, `nodes.${node.nodeId}.lastHeartbeatAt`));
    const base = { nodeId: node.nodeId, from: node.status, silenceMs };
    if (node.status === 'offline') {
      if (silenceMs <= suspectAfterMs) out.push({ ...base, to: 'online', command: 'MarkNodeRecovered' });
    } else if (silenceMs > offlineAfterMs) {
      out.push({ ...base, to: 'offline', command: 'MarkNodeOffline' });
    } else if (node.status === 'suspect') {
      if (silenceMs <= suspectAfterMs) out.push({ ...base, to: 'online', command: 'MarkNodeRecovered' });
    } else if (silenceMs > suspectAfterMs) {
      out.push({ ...base, to: 'suspect', command: 'MarkNodeSuspect' });
    }
  }
  return out;
}
