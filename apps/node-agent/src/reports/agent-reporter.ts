import { setTimeout as delay } from 'node:timers/promises';
import { orchestratorRoutes } from '@flotilla/contracts';
import { TimeoutError, UnavailableError } from '@flotilla/domain';
import type { Messaging } from '@flotilla/messaging';
import type { Logger } from '@flotilla/telemetry';

export interface AgentReport {
  readonly clusterId: string;
  readonly agentId: string;
  readonly nodeId: string;
  readonly state: 'started' | 'failed' | 'stopped';
  readonly reason?: string;
}

const MAX_BACKOFF_MS = 5000;

/**
 * Tells the orchestrator what really happened to each agent (`orchestrator.agents.report.<nodeId>`),
 * which records it on the cluster stream. Reports are retried with backoff while the
 * orchestrator is unreachable (it may restart, or be failing over), in order per agent; an
 * answer that refuses the report (the cluster or agent is gone, the agent has moved on) is
 * final and dropped. A newer report of the same agent replaces one not yet sent.
 */
export class AgentReporter {
  private readonly pending = new Map<string, AgentReport>();
  private readonly sending = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly messaging: Messaging,
    private readonly logger: Logger,
    private readonly timeoutMs = 3000,
  ) {}

  report(report: AgentReport): Promise<void> {
    this.pending.set(report.agentId, report);
    let sending = this.sending.get(report.agentId);
    if (!sending) {
      sending = this.drain(report.agentId).finally(() => this.sending.delete(report.agentId));
      this.sending.set(report.agentId, sending);
    }
    return sending;
  }

  /** Waits (bounded) for reports in flight, then stops retrying. */
  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.sending.values()]),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.stopped = true;
  }

  private async drain(agentId: string): Promise<void> {
    let backoff = 200;
    for (;;) {
      const report = this.pending.get(agentId);
      if (!report || this.stopped) return;
      try {
        await this.messaging.request(
          orchestratorRoutes.reportAgent,
          {
            cluster_id: report.clusterId,
            agent_id: report.agentId,
            state: report.state,
            ...(report.reason ? { reason: report.reason.slice(0, 1000) } : {}),
          },
          // The node is the subject's (`orchestrator.agents.report.<nodeId>`): our NATS user may publish only ours.
          { timeoutMs: this.timeoutMs, node: report.nodeId },
        );
        if (this.pending.get(agentId) === report) this.pending.delete(agentId);
        backoff = 200;
      } catch (err) {
        if (err instanceof UnavailableError || err instanceof TimeoutError) {
          await delay(backoff);
          backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
          continue;
        }
        this.logger.warn(
          { err, agentId, state: report.state },
          'the orchestrator refused an agent report',
        );
        if (this.pending.get(agentId) === report) this.pending.delete(agentId);
      }
    }
  }
}
