import { TASKS_STREAM, taskSubjects } from '@flotilla/contracts';
import type { Messaging } from '@flotilla/messaging';

/** The task ids of the messages queued for a cluster, in stream order (read message by message). */
export async function queuedTaskIds(messaging: Messaging, clusterId: string): Promise<string[]> {
  const jsm = await messaging.jsm();
  const stream = messaging.ns.stream(TASKS_STREAM);
  const { state } = await jsm.streams.info(stream);
  const prefix = messaging.ns.subject(taskSubjects.cluster(clusterId)).slice(0, -1);
  const ids: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m?.subject.startsWith(prefix)) ids.push((m.json() as { id: string }).id);
  }
  return ids;
}
