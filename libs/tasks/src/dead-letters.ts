import { TASKS_DLQ_STREAM, taskSubjects, type QueuedTask } from '@flotilla/contracts';
import { isMissingJetStreamResource, type Messaging } from '@flotilla/messaging';

/** One dead-lettered task: what it was and why it was given up. */
export interface DeadLetter {
  readonly task_id: string;
  readonly reason: string;
  readonly dead_at: string;
  readonly priority: string;
  readonly capability: string | null;
  readonly max_attempts: number;
  readonly submitted_at: string;
}

/**
 * A cluster's dead letters (stream FLOTILLA_TASKS_DLQ, one subject per task, kept for its
 * max age), newest first: the stream's per-subject counts, then the last message of each subject
 * (direct gets, 32 at a time). The cost grows with the cluster's dead letters, which the stream's
 * max age bounds.
 */
export async function listDeadLetters(messaging: Messaging, clusterId: string, limit: number): Promise<{ total: number; deadLetters: DeadLetter[] }> {
  const jsm = await messaging.jsm();
  const stream = messaging.ns.stream(TASKS_DLQ_STREAM);
  let subjects: Record<string, number>;
  try {
    subjects = (await jsm.streams.info(stream, { subjects_filter: messaging.ns.subject(taskSubjects.dead(clusterId, '*')) })).state.subjects ?? {};
  } catch (err) {
    if (isMissingJetStreamResource(err)) return { total: 0, deadLetters: [] };
    throw err;
  }
  const names = Object.keys(subjects);
  const found: (DeadLetter & { seq: number })[] = [];
  for (let i = 0; i < names.length; i += 32) {
    const batch = await Promise.all(names.slice(i, i + 32).map((s) => jsm.streams.getMessage(stream, { last_by_subj: s }).catch(() => null)));
    for (const m of batch) {
      if (!m) continue;
      let task: Partial<QueuedTask> = {};
      try {
        task = m.json<QueuedTask>();
      } catch {
        /* a letter that is not a task: listed by its subject alone */
      }
      found.push({
        seq: m.seq,
        task_id: task.id ?? m.subject.split('.').at(-1)!,
        reason: m.header?.get('Flotilla-Dead-Reason') || 'unknown',
        dead_at: m.time.toISOString(),
        priority: task.priority ?? 'normal',
        capability: task.capability ?? null,
        max_attempts: task.max_attempts ?? 0,
        submitted_at: task.submitted_at ?? m.time.toISOString(),
      });
    }
  }
  found.sort((a, b) => b.seq - a.seq);
  return { total: found.length, deadLetters: found.slice(0, limit).map(({ seq: _seq, ...d }) => d) };
}
