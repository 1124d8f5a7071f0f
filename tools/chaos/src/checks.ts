// The chaos run's verdicts, as pure functions of what it recorded and what it read back, so they
// can be tested without a stack (checks.spec.ts).

export interface CheckResult {
  readonly name: string;
  readonly pass: boolean;
  /** One line of figures. */
  readonly figures: string;
  /** The first few offenders, one line each. */
  readonly problems: readonly string[];
}

const MAX_PROBLEMS = 8;

function result(name: string, figures: string, problems: readonly string[]): CheckResult {
  return { name, pass: problems.length === 0, figures, problems: problems.slice(0, MAX_PROBLEMS) };
}

// -- (a) every acknowledged command in the log exactly once ------------------------------------

/** A command the gateway answered with a 2xx. */
export interface AckedCommand {
  /** Its Idempotency-Key (every event it appended carries it as metadata.idempotencyKey). */
  readonly key: string;
  readonly what: string;
  readonly status: number;
  /** Flotilla-Events: the types of the events it appended (or, for a replay, the first attempt's). */
  readonly eventTypes: readonly string[];
  /** Flotilla-Position: the log position of its last event (null when it appended nothing). */
  readonly position: string | null;
}

/** An event of the log that carries an idempotency key. */
export interface KeyedEvent {
  readonly key: string;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly position: string;
}

/**
 * Each acknowledged command's events are in the log once: exactly the events it answered with
 * (types in order), one append (one stream, consecutive revisions) ending at the position it
 * answered with. A command that appended nothing has no event carrying its key.
 */
export function checkAcknowledgedCommands(acked: readonly AckedCommand[], logged: readonly KeyedEvent[]): CheckResult {
  const byKey = new Map<string, KeyedEvent[]>();
  for (const e of logged) {
    let list = byKey.get(e.key);
    if (!list) byKey.set(e.key, (list = []));
    list.push(e);
  }
  let missing = 0;
  let duplicated = 0;
  let mismatched = 0;
  let events = 0;
  const problems: string[] = [];
  for (const c of acked) {
    const found = [...(byKey.get(c.key) ?? [])].sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
    events += found.length;
    if (c.eventTypes.length === 0) {
      if (found.length > 0) {
        mismatched++;
        problems.push(`${c.what} [${c.key}]: answered with no events, but ${found.length} carry its key`);
      }
      continue;
    }
    if (found.length === 0) {
      missing++;
      problems.push(`${c.what} [${c.key}]: answered ${c.status} with ${c.eventTypes.join(',')}, none in the log`);
      continue;
    }
    if (found.length > c.eventTypes.length) {
      duplicated++;
      problems.push(`${c.what} [${c.key}]: ${found.length} events carry its key, it answered with ${c.eventTypes.length}`);
      continue;
    }
    const oneStream = found.every((e) => e.streamId === found[0]!.streamId);
    const consecutive = found.every((e, i) => i === 0 || e.revision === found[i - 1]!.revision + 1);
    const sameTypes = found.map((e) => e.type).join(',') === c.eventTypes.join(',');
    const endsThere = c.position === null || found.at(-1)!.position === c.position;
    if (!oneStream || !consecutive || !sameTypes || !endsThere) {
      mismatched++;
      problems.push(`${c.what} [${c.key}]: log has ${found.map((e) => `${e.streamId}@${e.revision}:${e.type}`).join(',')}, answer said ${c.eventTypes.join(',')} at ${c.position}`);
    }
  }
  const appended = acked.filter((c) => c.eventTypes.length > 0).length;
  return result(
    'acknowledged commands in the log exactly once',
    `${acked.length} acknowledged (${appended} appended, ${acked.length - appended} no-ops), ${events} events carry their keys; missing ${missing}, duplicated ${duplicated}, mismatched ${mismatched}`,
    problems,
  );
}

// -- (b) read models equal a fresh rebuild -----------------------------------------------------

export interface TableComparison {
  readonly table: string;
  /** Each row as canonical JSON (jsonb text), live read model. */
  readonly live: readonly string[];
  /** The same table rebuilt from position 0 in a scratch database. */
  readonly rebuilt: readonly string[];
}

/** Rows (as multisets) that only one side has. */
export function diffRows(live: readonly string[], rebuilt: readonly string[]): { onlyLive: string[]; onlyRebuilt: string[] } {
  const counts = new Map<string, number>();
  for (const r of live) counts.set(r, (counts.get(r) ?? 0) + 1);
  const onlyRebuilt: string[] = [];
  for (const r of rebuilt) {
    const n = counts.get(r) ?? 0;
    if (n > 0) counts.set(r, n - 1);
    else onlyRebuilt.push(r);
  }
  const onlyLive: string[] = [];
  for (const [r, n] of counts) for (let i = 0; i < n; i++) onlyLive.push(r);
  return { onlyLive, onlyRebuilt };
}

export function checkReadModels(tables: readonly TableComparison[]): CheckResult {
  const problems: string[] = [];
  let rows = 0;
  let differing = 0;
  for (const t of tables) {
    rows += t.live.length;
    const { onlyLive, onlyRebuilt } = diffRows(t.live, t.rebuilt);
    if (onlyLive.length || onlyRebuilt.length) {
      differing++;
      problems.push(`${t.table}: ${t.live.length} live rows, ${t.rebuilt.length} rebuilt; ${onlyLive.length} only live, ${onlyRebuilt.length} only rebuilt`);
      for (const r of onlyLive.slice(0, 2)) problems.push(`  live:    ${r.slice(0, 300)}`);
      for (const r of onlyRebuilt.slice(0, 2)) problems.push(`  rebuilt: ${r.slice(0, 300)}`);
    }
  }
  return result('read models equal a fresh rebuild', `${tables.length} tables, ${rows} live rows; ${differing} tables differ`, problems);
}

// -- (c) every accepted task completed or dead-lettered exactly once ---------------------------

/** What became of one task the gateway accepted (202). */
export interface TaskFate {
  readonly id: string;
  /** Its record's status after the settle period; null when there is no record (404). */
  readonly recordStatus: string | null;
  /** Attempts announced as completed (final), distinct: more than one means it ran to completion twice. */
  readonly completedAttempts: readonly number[];
  /** Final failures announced (a dead-letter is announced as a final failure). */
  readonly finalFailures: number;
  /** Messages in the dead-letter stream for it. */
  readonly deadLetters: number;
  /**
   * Completions announced with a run time (an agent that finds the task already completed
   * announces it again with none): more than one means it ran twice, even under one attempt
   * number (a task queued again after the store was lost starts its attempts over).
   */
  readonly timedCompletions?: number;
  /** Accepted before NATS lost its store (its queue message and record went with it, unless it had ended). */
  readonly beforeWipe?: boolean;
}

export function checkTasks(fates: readonly TaskFate[]): CheckResult {
  let completed = 0;
  let dead = 0;
  let lost = 0;
  let lostInWipe = 0;
  let unfinished = 0;
  let twice = 0;
  let failed = 0;
  let fromAnnouncements = 0;
  const problems: string[] = [];
  for (const f of fates) {
    const distinct = new Set(f.completedAttempts).size;
    const runs = f.timedCompletions ?? 0;
    if (distinct > 1 || runs > 1 || f.deadLetters > 1 || (distinct > 0 && f.deadLetters > 0)) {
      twice++;
      problems.push(`${f.id}: ended more than once (completed in attempts ${[...new Set(f.completedAttempts)].join(',') || '-'}, ${runs} timed completions, ${f.deadLetters} dead letters)`);
      continue;
    }
    let status = f.recordStatus;
    if (status === null) {
      // No record (JetStream lost it with its store): what was announced while it lived counts.
      if (distinct > 0) status = 'completed';
      else if (f.deadLetters > 0 || f.finalFailures > 0) status = f.deadLetters > 0 ? 'dead_lettered' : 'failed';
      if (status !== null) fromAnnouncements++;
    }
    if (status === 'completed') completed++;
    else if (status === 'dead_lettered') dead++;
    else if (status === null) {
      lost++;
      if (f.beforeWipe) lostInWipe++;
      problems.push(`${f.id}: accepted${f.beforeWipe ? ' before the NATS wipe' : ''}, then neither its record nor any outcome was seen (lost)`);
    } else if (status === 'failed' || status === 'rejected') {
      failed++;
      problems.push(`${f.id}: ended ${status}`);
    } else {
      unfinished++;
      problems.push(`${f.id}: still ${status} after the settle period`);
    }
  }
  return result(
    'accepted tasks completed or dead-lettered exactly once',
    `${fates.length} accepted: ${completed} completed, ${dead} dead-lettered (${fromAnnouncements} known from announcements only); lost ${lost}${lostInWipe ? ` (${lostInWipe} accepted before the NATS wipe)` : ''}, unfinished ${unfinished}, failed ${failed}, twice ${twice}`,
    problems,
  );
}

// -- (d) no agent lost or running twice ---------------------------------------------------------

export interface ClusterAgents {
  readonly id: string;
  readonly status: string;
  readonly desired: number;
  /** The read model's agents (not stopped): id, state, node. */
  readonly agents: readonly { readonly id: string; readonly state: string; readonly nodeId: string | null }[];
}

/** The agents one live node agent reported in its last heartbeat. */
export interface NodeReport {
  readonly nodeId: string;
  readonly agents: readonly { readonly agentId: string; readonly clusterId: string; readonly state: string }[];
}

const RUNNING_ON_NODE = new Set(['idle', 'busy', 'starting']);

/** Samples (one a second) an agent must be seen on two nodes in a row to count as running twice. */
export const DOUBLE_RUN_SAMPLES = 3;

/**
 * One sample of the heartbeats: the agents running on more than one node now. `streaks` carries
 * each such agent's run of consecutive samples; those reaching DOUBLE_RUN_SAMPLES go to `seen`.
 * (A move from one node to another can show in two heartbeats a second apart; a real double run
 * lasts.)
 */
export function sampleDoubleRuns(nodes: readonly NodeReport[], streaks: Map<string, number>, seen: Map<string, string[]>): void {
  const where = new Map<string, string[]>();
  for (const n of nodes) for (const a of n.agents) if (RUNNING_ON_NODE.has(a.state)) where.set(a.agentId, [...(where.get(a.agentId) ?? []), n.nodeId]);
  for (const agentId of [...streaks.keys()]) if ((where.get(agentId)?.length ?? 0) < 2) streaks.delete(agentId);
  for (const [agentId, on] of where) {
    if (on.length < 2) continue;
    const n = (streaks.get(agentId) ?? 0) + 1;
    streaks.set(agentId, n);
    if (n >= DOUBLE_RUN_SAMPLES) seen.set(agentId, on);
  }
}
const GONE = new Set(['decommissioned']);

/**
 * Every desired agent of every live cluster runs (the read model says idle, on a node whose
 * heartbeat lists it), none runs on two nodes, and none runs that no live cluster wants.
 */
export function checkAgents(clusters: readonly ClusterAgents[], nodes: readonly NodeReport[], duringRun: ReadonlyMap<string, readonly string[]> = new Map()): CheckResult {
  const problems: string[] = [];
  // Seen on two nodes at once for a while during the run (DOUBLE_RUN_SAMPLES in a row).
  for (const [agentId, on] of duringRun) problems.push(`agent ${agentId} ran on ${on.join(' and ')} at once during the run`);
  const where = new Map<string, string[]>();
  for (const n of nodes) {
    for (const a of n.agents) {
      if (!RUNNING_ON_NODE.has(a.state)) continue;
      let list = where.get(a.agentId);
      if (!list) where.set(a.agentId, (list = []));
      list.push(n.nodeId);
    }
  }
  let live = 0;
  let desired = 0;
  let running = 0;
  let lost = 0;
  let offNode = 0;
  let unsettled = 0;
  const wanted = new Set<string>();
  for (const c of clusters) {
    if (GONE.has(c.status)) continue;
    live++;
    desired += c.desired;
    if (c.status !== 'active') {
      unsettled++;
      problems.push(`cluster ${c.id} is ${c.status}`);
    }
    const up = c.agents.filter((a) => a.state === 'idle' || a.state === 'busy');
    running += up.length;
    if (up.length < c.desired) {
      lost += c.desired - up.length;
      const others = c.agents.filter((a) => a.state !== 'idle' && a.state !== 'busy').map((a) => `${a.id}:${a.state}@${a.nodeId ?? '-'}`);
      problems.push(`cluster ${c.id}: ${up.length} of ${c.desired} agents running${others.length ? ` (${others.join(', ')})` : ''}`);
    }
    for (const a of c.agents) {
      wanted.add(a.id);
      if (a.state !== 'idle' && a.state !== 'busy') continue;
      const on = where.get(a.id) ?? [];
      if (!a.nodeId || !on.includes(a.nodeId)) {
        offNode++;
        problems.push(`agent ${a.id} (${c.id}): read model says running on ${a.nodeId ?? '-'}, heartbeats show it on ${on.join(',') || 'no node'}`);
      }
    }
  }
  let twice = 0;
  let stray = 0;
  for (const [agentId, on] of where) {
    if (on.length > 1) {
      twice++;
      problems.push(`agent ${agentId} runs on ${on.length} nodes: ${on.join(', ')}`);
    }
    if (!wanted.has(agentId)) {
      stray++;
      problems.push(`agent ${agentId} runs on ${on.join(', ')} but no live cluster has it`);
    }
  }
  return result(
    'no agent lost or running twice',
    `${live} live clusters, ${desired} desired agents, ${running} running, ${nodes.length} nodes reporting; lost ${lost}, off their node ${offNode}, on two nodes ${twice} (during the run ${duringRun.size}), stray ${stray}, clusters not active ${unsettled}`,
    problems,
  );
}

// -- (e) no event missing from JetStream --------------------------------------------------------

export function checkEventsInStream(inLog: readonly { readonly id: string; readonly position: string }[], inStream: readonly { readonly id: string; readonly seq: number; readonly position: string | null }[]): CheckResult {
  const problems: string[] = [];
  const streamCounts = new Map<string, number>();
  for (const m of inStream) streamCounts.set(m.id, (streamCounts.get(m.id) ?? 0) + 1);
  const logIds = new Set(inLog.map((e) => e.id));
  const missing = inLog.filter((e) => !streamCounts.has(e.id));
  const duplicated = [...streamCounts].filter(([, n]) => n > 1);
  const unknown = [...streamCounts.keys()].filter((id) => !logIds.has(id));
  let outOfOrder = 0;
  const sorted = [...inStream].sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!.position;
    const q = sorted[i]!.position;
    if (p !== null && q !== null && BigInt(q) <= BigInt(p)) outOfOrder++;
  }
  for (const e of missing.slice(0, 3)) problems.push(`event ${e.id} (position ${e.position}) is not in the stream`);
  if (missing.length > 3) problems.push(`… and ${missing.length - 3} more missing`);
  for (const [id, n] of duplicated.slice(0, 3)) problems.push(`event ${id} is in the stream ${n} times`);
  for (const id of unknown.slice(0, 3)) problems.push(`the stream holds ${id}, which the log does not`);
  if (outOfOrder) problems.push(`${outOfOrder} messages out of log order`);
  return result(
    'no event missing from JetStream',
    `${inLog.length} events in PostgreSQL, ${inStream.length} messages in FLOTILLA_EVENTS; missing ${missing.length}, duplicated ${duplicated.length}, unknown ${unknown.length}, out of order ${outOfOrder}`,
    problems,
  );
}

// -- (f) the system recovered by itself ----------------------------------------------------------

export interface RecoveryProbe {
  /** Whether the run settled within its settle period (and, if not, why). */
  readonly settled: boolean;
  readonly unsettled: readonly string[];
  /** GET /api/cluster/leader after the settle period. */
  readonly roles: readonly { readonly role: string; readonly leader: string | null; readonly members: readonly string[] }[];
  /** One task per initial cluster, submitted after the settle period, and what became of it. */
  readonly tasks: readonly { readonly clusterId: string; readonly status: string }[];
  /** One command after the settle period: its HTTP status (0: no answer). */
  readonly commandStatus: number;
  /** Tasks accepted and commands acknowledged between the NATS restart and the end of the load. */
  readonly afterWipe: { readonly tasks: number; readonly commands: number };
}

/**
 * Nobody helped after the NATS wipe, so the system must work again by itself: it settled, every
 * singleton role has a leader, and a task per cluster and a command submitted now succeed.
 */
export function checkRecovery(p: RecoveryProbe): CheckResult {
  const problems: string[] = [];
  if (!p.settled) problems.push(`did not settle: ${p.unsettled.slice(0, 4).join('; ')}`);
  const leaderless = p.roles.filter((r) => r.leader === null);
  if (p.roles.length === 0) problems.push('no singleton role has a leader or a member');
  for (const r of leaderless) problems.push(`role ${r.role} has no leader (members: ${r.members.join(', ') || 'none'})`);
  const done = p.tasks.filter((t) => t.status === 'completed').length;
  for (const t of p.tasks) if (t.status !== 'completed') problems.push(`a task submitted to ${t.clusterId} after the settle period: ${t.status}`);
  if (p.commandStatus < 200 || p.commandStatus >= 300) problems.push(`a command after the settle period answered ${p.commandStatus || 'nothing'}`);
  return result(
    'the system recovered by itself',
    `${p.settled ? 'settled' : 'NOT settled'}; ${p.roles.length - leaderless.length} of ${p.roles.length} roles led; probe tasks ${done} of ${p.tasks.length} completed; probe command ${p.commandStatus || 'unanswered'}; after the wipe ${p.afterWipe.tasks} tasks accepted, ${p.afterWipe.commands} commands acknowledged`,
    problems,
  );
}

// -- the report --------------------------------------------------------------------------------

export function renderReport(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.figures}`);
    for (const p of r.problems) lines.push(`        ${p}`);
  }
  return lines.join('\n');
}
