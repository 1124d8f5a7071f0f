import type { AgentRole } from '../blueprint/blueprint.schema.js';
import type { ResolvedAgent, ResolvedBlueprint } from '../blueprint/blueprint.types.js';
import { desiredAgents, isLive, SERVING_STATUSES, slotKey, type DesiredAgent } from './cluster.queries.js';
import type { AgentRecord, ClusterState, ExistingCluster, Rollout } from './cluster.state.js';

/**
 * Rolling upgrades, the queries the decider and the reconciler share. A rollout changes the
 * cluster's blueprint at once, and replaces the agents whose spec hash changes in waves: each
 * wave starts new agents beside the old ones (up to maxSurge), or stops old ones first (up to
 * maxUnavailable), and the old ones are released once the new ones run. A slot not replaced yet
 * keeps the previous version's spec, even when its agent has to be spawned again.
 */

/** Workers are replaced first, the supervisor last: the top of the hierarchy changes once its reports run. */
const WAVE_ORDER: Readonly<Record<AgentRole, number>> = { worker: 0, specialist: 1, lead: 2, supervisor: 3 };

/** A rollout rolling or paused (not failed or completed). */
export const rolloutRunning = (r: Rollout | undefined): r is Rollout => r !== undefined && (r.status === 'rolling' || r.status === 'paused');

/** The spec (and the version it comes from) an agent spawned into a slot runs. */
export function specForSlot(s: ExistingCluster, name: string, ordinal: number): { spec: ResolvedAgent; version: string } | undefined {
  const r = s.rollout;
  if (r && r.status !== 'completed' && r.pending.includes(slotKey(name, ordinal))) {
    const previous = r.previous.agents.find((a) => a.name === name);
    if (previous) return { spec: previous, version: r.previous.version };
  }
  const spec = s.blueprint.agents.find((a) => a.name === name);
  return spec ? { spec, version: s.blueprint.version } : undefined;
}

/** Live agents that are not on their way out, by slot. */
function holdersBySlot(s: ExistingCluster): Map<string, AgentRecord[]> {
  const out = new Map<string, AgentRecord[]>();
  for (const a of Object.values(s.agents)) {
    if (!isLive(a) || a.state === 'stopping') continue;
    const key = slotKey(a.name, a.ordinal);
    const list = out.get(key);
    if (list) list.push(a);
    else out.set(key, [a]);
  }
  return out;
}

/** Desired slots whose agents run a spec other than `target`'s: what a rollout to `target` replaces. */
export function slotsToReplace(s: ExistingCluster, target: ResolvedBlueprint, desired: readonly DesiredAgent[]): string[] {
  const hashes = new Map(target.agents.map((a) => [a.name, a.specHash]));
  const holders = holdersBySlot(s);
  return desired
    .filter((d) => (holders.get(slotKey(d.name, d.ordinal)) ?? []).some((a) => hashes.has(a.name) && a.specHash !== hashes.get(a.name)))
    .map((d) => slotKey(d.name, d.ordinal));
}

/** Desired slots the rollout has not replaced yet (none of their agents runs the target spec). */
export function unreplacedSlots(s: ExistingCluster): DesiredAgent[] {
  const r = s.rollout;
  if (!r) return [];
  const pending = new Set(r.pending);
  const hashes = new Map(s.blueprint.agents.map((a) => [a.name, a.specHash]));
  const holders = holdersBySlot(s);
  return desiredAgents(s).filter((d) => {
    const key = slotKey(d.name, d.ordinal);
    return pending.has(key) && !(holders.get(key) ?? []).some((a) => a.specHash === hashes.get(d.name));
  });
}

export interface PlannedWaveSlot extends DesiredAgent {
  /** The running agent the new one replaces. */
  readonly holder: AgentRecord;
  readonly mode: 'surge' | 'stop_first';
}

export interface PlannedWave {
  readonly wave: number;
  readonly slots: readonly PlannedWaveSlot[];
}

/**
 * The next wave, when one is due: the rollout is rolling with no wave in flight, the cluster is
 * serving, and some unreplaced slot has a running agent. The first maxSurge slots get their new
 * agent beside the old one; up to maxUnavailable more have their old agent stopped first.
 */
export function nextWave(state: ClusterState): PlannedWave | null {
  // Waves start only while the cluster serves with its desired agents.
  if (state.status === 'none' || !SERVING_STATUSES.has(state.status)) return null;
  const r = state.rollout;
  if (!r || r.status !== 'rolling' || r.current) return null;
  const holders = holdersBySlot(state);
  const ready = unreplacedSlots(state)
    .map((d) => ({ ...d, holder: (holders.get(slotKey(d.name, d.ordinal)) ?? []).find((a) => a.state === 'idle') }))
    .filter((d): d is DesiredAgent & { holder: AgentRecord } => d.holder !== undefined)
    .sort((a, b) => WAVE_ORDER[a.role] - WAVE_ORDER[b.role] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.ordinal - b.ordinal);
  const slots = ready.slice(0, r.maxSurge + r.maxUnavailable).map((d, i) => ({ ...d, mode: i < r.maxSurge ? ('surge' as const) : ('stop_first' as const) }));
  return slots.length ? { wave: r.waves + 1, slots } : null;
}

export type WaveOutcome =
  | { readonly kind: 'running' }
  | { readonly kind: 'completed' }
  | { readonly kind: 'failed'; readonly agent: AgentRecord; readonly reason: string };

/**
 * Where the wave in flight stands: failed when a new agent of a slot the cluster still wants
 * failed (or stopped); completed when every such new agent runs.
 */
export function waveOutcome(s: ExistingCluster): WaveOutcome | null {
  const r = s.rollout;
  if (!rolloutRunning(r) || !r.current) return null;
  const desired = new Set(desiredAgents(s).map((d) => slotKey(d.name, d.ordinal)));
  let running = true;
  for (const slot of r.current.slots) {
    if (!desired.has(slot.slot)) continue;
    const agent = s.agents[slot.agentId];
    if (!agent) continue;
    if (agent.state === 'failed' || agent.state === 'stopped') {
      return { kind: 'failed', agent, reason: `agent ${slot.slot} (${agent.agentId}) of wave ${r.current.wave} ${agent.state === 'failed' ? 'failed' : 'stopped'}: ${agent.reason ?? 'no reason given'}` };
    }
    if (agent.state !== 'idle') running = false;
  }
  return running ? { kind: 'completed' } : { kind: 'running' };
}

/** True when a rollout is in progress with nothing left to replace and no wave in flight. */
export function rolloutDone(s: ExistingCluster): boolean {
  const r = s.rollout;
  return rolloutRunning(r) && !r.current && unreplacedSlots(s).length === 0;
}

export const rolloutInProgress = (s: ClusterState): boolean => s.status !== 'none' && rolloutRunning(s.rollout);
