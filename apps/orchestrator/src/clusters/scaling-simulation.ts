import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import type { Simulation } from '@flotilla/contracts';
import {
  effectivePolicy,
  replayScaling,
  scalingOutcome,
  ValidationError,
  type Instant,
  type ScalingDecisionKind,
  type ScalingReading,
} from '@flotilla/domain';
import type { RequestMeta } from '@flotilla/messaging';
import { PG_POOL } from '@flotilla/platform';
import { ClusterHistory } from './cluster-history.js';

/** The most readings one replay folds (a day of 1 s snapshots): a longer range is refused. */
export const SIMULATION_MAX_READINGS = 86_400;
const HOUR_MS = 3_600_000;

interface RecordedDecision {
  at: Instant;
  decision: ScalingDecisionKind;
  target: number;
  rule: string;
  reason: string;
}

const iso = (t: Instant): string => (typeof t === 'string' ? t : new Date(t).toISOString());

const sameDecisions = (a: readonly RecordedDecision[], b: readonly RecordedDecision[]) =>
  a.length === b.length && a.every((d, i) => d.decision === b[i]!.decision && d.target === b[i]!.target && d.rule === b[i]!.rule);

/**
 * What-if replays of a scaling policy (`POST /api/clusters/{id}/simulate`): the readings the
 * metrics service recorded with each raw snapshot (exactly what the autoscaler read) are fed
 * through the domain's autoscaler step with the cluster's recorded policy and with the candidate
 * (replayScaling), and compared with the decisions the log recorded (ScalingDecided). Reads
 * only; nothing is stored.
 */
@Injectable()
export class ScalingSimulations {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    private readonly history: ClusterHistory,
  ) {}

  async simulate(
    clusterId: string,
    req: { policy: Record<string, unknown>; from?: string | undefined; to?: string | undefined },
    meta: RequestMeta,
  ): Promise<Simulation> {
    const to = req.to ? new Date(req.to) : new Date();
    const from = req.from ? new Date(req.from) : new Date(to.getTime() - HOUR_MS);
    if (from >= to) throw new ValidationError('from is not before to', [{ path: 'from', message: `${from.toISOString()} is not before ${to.toISOString()}` }]);
    // Access as for a read of the cluster at the end of the range.
    const end = await this.history.visibleAt(clusterId, { time: to }, meta);

    const { rows } = await this.pool.query<{ scaling: ScalingReading | null }>(
      `SELECT scaling FROM cluster_metrics WHERE cluster_id = $1 AND resolution = 'raw' AND at >= $2 AND at <= $3 ORDER BY at, id LIMIT $4`,
      [clusterId, from, to, SIMULATION_MAX_READINGS + 1],
    );
    if (rows.length > SIMULATION_MAX_READINGS) {
      throw new ValidationError(`the range holds more than ${SIMULATION_MAX_READINGS} snapshots`, [{ path: 'from', message: 'narrow the range' }]);
    }
    const readings = rows.flatMap((r) => (r.scaling ? [r.scaling] : []));
    const recorded = await this.recordedDecisions(clusterId, from, to);
    const replay = replayScaling(readings, req.policy);
    const track = (decisions: readonly RecordedDecision[], workers: readonly number[]) => {
      const o = scalingOutcome(readings, decisions, workers);
      return {
        scale_events: o.scaleEvents,
        flaps: o.flaps,
        minutes_above_queue_threshold: o.minutesAboveQueueThreshold,
        worker_minutes: o.workerMinutes,
        timeline: decisions.map((d) => ({ at: iso(d.at), decision: d.decision, target: d.target, rule: d.rule, reason: d.reason })),
      };
    };
    const recordedPolicy = end.state.status === 'none' ? {} : { ...end.state.policy };
    return {
      cluster_id: clusterId,
      from: from.toISOString(),
      to: to.toISOString(),
      samples: readings.length,
      samples_without_reading: rows.length - readings.length,
      reproduced: sameDecisions(replay.baseline.decisions, recorded),
      diverged_at: replay.divergedAt === null ? null : iso(readings[replay.divergedAt]!.at),
      policy: { recorded: recordedPolicy, candidate: { ...effectivePolicy(recordedPolicy, req.policy) } },
      recorded: track(recorded, readings.map((r) => r.workers)),
      candidate: track(replay.candidate.decisions, replay.candidate.workers),
    };
  }

  /** The decisions the autoscaler had carried out in the range, from the cluster's audit trail. */
  private async recordedDecisions(clusterId: string, from: Date, to: Date): Promise<RecordedDecision[]> {
    const { rows } = await this.pool.query<{ data: Record<string, unknown> }>(
      `SELECT data FROM cluster_events WHERE cluster_id = $1 AND type = 'ScalingDecided' AND occurred_at >= $2 AND occurred_at <= $3 ORDER BY position`,
      [clusterId, from, to],
    );
    return rows
      .map(({ data }) => ({
        at: String(data['at']),
        decision: String(data['decision']) as ScalingDecisionKind,
        target: Number(data['target']),
        rule: String(data['rule']),
        reason: String(data['reason']),
      }))
      .filter((d) => d.decision !== 'hold');
  }
}
