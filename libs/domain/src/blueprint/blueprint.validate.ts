import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { type Blueprint, BlueprintSchema, ENVIRONMENTS } from './blueprint.schema.js';
import { DEFAULT_SCALING_POLICY } from './blueprint.types.js';

/** `['agents', 2, 'reportsTo']` → `agents[2].reportsTo`; odd keys are quoted: `labels["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function fromZodIssue(issue: z.core.$ZodIssue): ValidationIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `unknown field '${key}'` }));
  }
  // A record key that fails its schema: say why (the key's own issues), not just "Invalid key".
  if (issue.code === 'invalid_key' && issue.issues.length > 0) {
    return issue.issues.map((inner) => ({ path: formatPath(issue.path), message: inner.message }));
  }
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = `required: expected ${issue.expected}`;
  else message = message.replace(/^Invalid (input|option): /, '');
  return [{ path: formatPath(issue.path), message }];
}

/**
 * Every problem in a candidate blueprint, structural (zod) and semantic, in one list. Semantic
 * checks read the raw input defensively, so a document with a bad version AND two supervisors
 * reports both at once.
 */
export function blueprintIssues(input: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const parsed = BlueprintSchema.safeParse(input);
  if (!parsed.success) for (const issue of parsed.error.issues) issues.push(...fromZodIssue(issue));
  if (isRecord(input)) semanticIssues(input, issues);
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Validates a parsed document (from YAML, JSON or an API body); throws ValidationError listing all issues. */
export function validateBlueprint(input: unknown): Blueprint {
  const issues = blueprintIssues(input);
  if (issues.length > 0) throw ValidationError.of(issues, 'blueprint');
  return BlueprintSchema.parse(input);
}

const ROLE_RANK: Readonly<Record<string, number>> = { supervisor: 0, lead: 1, specialist: 2, worker: 3 };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function semanticIssues(doc: Record<string, unknown>, issues: ValidationIssue[]): void {
  const cluster = isRecord(doc['cluster']) ? doc['cluster'] : {};
  const agents = Array.isArray(doc['agents']) ? doc['agents'].map((a) => (isRecord(a) ? a : {})) : [];
  const hasWorkers = agents.some((a) => a['role'] === 'worker');

  checkBounds('cluster', cluster, undefined, hasWorkers, issues);
  checkThresholds('cluster.scaling', isRecord(cluster['scaling']) ? cluster['scaling'] : {}, undefined, issues);
  const budgets = Array.isArray(cluster['budgets']) ? cluster['budgets'] : [];
  budgets.forEach((b, i) => {
    if (!isRecord(b)) return;
    if (b['action'] === 'failover' && !str(cluster['backupCluster']))
      issues.push({ path: `cluster.budgets[${i}].action`, message: 'failover sends tasks to cluster.backupCluster: set one' });
    if (!isRecord(cluster['pricing'])) issues.push({ path: `cluster.budgets[${i}]`, message: 'a budget counts spend at cluster.pricing: set the prices' });
  });

  const environments = isRecord(doc['environments']) ? doc['environments'] : {};
  for (const env of ENVIRONMENTS) {
    const overlay = environments[env];
    if (!isRecord(overlay)) continue;
    checkBounds(`environments.${env}`, cluster, overlay, hasWorkers, issues);
    const baseScaling = isRecord(cluster['scaling']) ? cluster['scaling'] : {};
    if (isRecord(overlay['scaling'])) {
      checkThresholds(`environments.${env}.scaling`, { ...baseScaling, ...overlay['scaling'] }, overlay['scaling'], issues);
    }
  }

  checkAgents(agents, issues);
}

function checkBounds(
  scope: string,
  cluster: Record<string, unknown>,
  overlay: Record<string, unknown> | undefined,
  hasWorkers: boolean,
  issues: ValidationIssue[],
): void {
  const pick = (key: string): unknown => (overlay && key in overlay ? overlay[key] : cluster[key]);
  const min = pick('minWorkers');
  const max = pick('maxWorkers');
  const target = pick('targetWorkers');
  const overrides = (key: string): boolean => !overlay || key in overlay;
  if (overlay && !['minWorkers', 'maxWorkers', 'targetWorkers'].some((k) => k in overlay)) return;
  if (isInt(min) && isInt(max) && min > max) {
    const at = overrides('maxWorkers') ? 'maxWorkers' : 'minWorkers';
    issues.push({ path: `${scope}.${at}`, message: `minWorkers (${min}) must not exceed maxWorkers (${max})` });
    return;
  }
  // A target the overlay does not set is clamped into the overlay's bounds; an explicit one must fit.
  const explicitTarget = overlay ? 'targetWorkers' in overlay : target !== undefined;
  if (explicitTarget && isInt(target) && isInt(min) && isInt(max) && (target < min || target > max)) {
    issues.push({ path: `${scope}.targetWorkers`, message: `targetWorkers (${target}) must be between minWorkers (${min}) and maxWorkers (${max})` });
  }
  if (!hasWorkers && isInt(max) && max > 0 && overrides('maxWorkers')) {
    issues.push({ path: `${scope}.maxWorkers`, message: `a pool of up to ${max} workers needs at least one agent with role worker (or set maxWorkers to 0)` });
  }
}

function checkThresholds(
  scope: string,
  scaling: Record<string, unknown>,
  overlay: Record<string, unknown> | undefined,
  issues: ValidationIssue[],
): void {
  const pairs = [
    ['queuePerWorkerDown', 'queuePerWorkerUp', 'queue-per-worker'],
    ['cpuDown', 'cpuUp', 'CPU'],
  ] as const;
  for (const [downKey, upKey, what] of pairs) {
    if (overlay && !(downKey in overlay) && !(upKey in overlay)) continue;
    const down = scaling[downKey] ?? DEFAULT_SCALING_POLICY[downKey];
    const up = scaling[upKey] ?? DEFAULT_SCALING_POLICY[upKey];
    if (isNum(down) && isNum(up) && down >= up) {
      issues.push({
        path: `${scope}.${downKey}`,
        message: `the scale-down ${what} threshold (${down}) must be below the scale-up threshold (${up})`,
      });
    }
  }
}

function checkAgents(agents: readonly Record<string, unknown>[], issues: ValidationIssue[]): void {
  const firstIndex = new Map<string, number>();
  agents.forEach((agent, i) => {
    const name = str(agent['name']);
    if (name === undefined) return;
    const first = firstIndex.get(name);
    if (first === undefined) firstIndex.set(name, i);
    else issues.push({ path: `agents[${i}].name`, message: `duplicate agent name '${name}' (already defined at agents[${first}])` });
  });

  const supervisors = agents.flatMap((a, i) => (a['role'] === 'supervisor' ? [i] : []));
  if (agents.length > 0 && supervisors.length === 0) {
    issues.push({ path: 'agents', message: 'exactly one agent with role supervisor is required (the root of the hierarchy); found none' });
  }
  const root = supervisors[0];
  for (const i of supervisors.slice(1)) {
    issues.push({
      path: `agents[${i}].role`,
      message: `exactly one supervisor is allowed; '${str(agents[root as number]?.['name']) ?? '?'}' (agents[${root}]) is already the supervisor`,
    });
  }

  const parent: (number | undefined)[] = [];
  agents.forEach((agent, i) => {
    const role = str(agent['role']);
    const name = str(agent['name']);
    const reportsTo = agent['reportsTo'];
    if (role === 'supervisor') {
      if (agent['count'] !== undefined && agent['count'] !== 1) {
        issues.push({ path: `agents[${i}].count`, message: 'the supervisor runs exactly one instance' });
      }
      if (reportsTo !== undefined) {
        issues.push({ path: `agents[${i}].reportsTo`, message: 'the supervisor is the root of the hierarchy and reports to no one' });
      }
    }
    if (role === 'worker' && agent['count'] !== undefined) {
      issues.push({
        path: `agents[${i}].count`,
        message: 'workers form a pool sized by cluster.minWorkers/targetWorkers/maxWorkers; use weight to split the pool between worker kinds',
      });
    }
    if (role !== undefined && role !== 'worker' && agent['weight'] !== undefined) {
      issues.push({ path: `agents[${i}].weight`, message: `only workers have a weight; a ${role} has a count` });
    }
    const caps = Array.isArray(agent['capabilities']) ? agent['capabilities'] : [];
    caps.forEach((cap, k) => {
      if (caps.indexOf(cap) !== k) issues.push({ path: `agents[${i}].capabilities[${k}]`, message: `duplicate capability '${String(cap)}'` });
    });

    if (role === 'supervisor' || typeof reportsTo !== 'string') return;
    if (reportsTo === name) {
      issues.push({ path: `agents[${i}].reportsTo`, message: 'an agent cannot report to itself' });
      return;
    }
    const target = firstIndex.get(reportsTo);
    if (target === undefined) {
      issues.push({
        path: `agents[${i}].reportsTo`,
        message: `unknown agent '${reportsTo}' (known: ${[...firstIndex.keys()].join(', ') || 'none'})`,
      });
      return;
    }
    const targetRole = str(agents[target]?.['role']);
    if (targetRole === 'worker') {
      issues.push({ path: `agents[${i}].reportsTo`, message: `'${reportsTo}' is a worker; workers have no reports` });
    } else if (role !== undefined && targetRole !== undefined && (ROLE_RANK[targetRole] ?? 0) > (ROLE_RANK[role] ?? 0)) {
      issues.push({
        path: `agents[${i}].reportsTo`,
        message: `a ${role} cannot report to a ${targetRole}: reportsTo points up the hierarchy (supervisor → lead → specialist → worker)`,
      });
    }
    parent[i] = target;
  });

  // reportsTo must form a tree: follow parents and report each cycle once, at its first agent.
  const state = new Array<0 | 1 | 2>(agents.length).fill(0);
  for (let start = 0; start < agents.length; start++) {
    const path: number[] = [];
    let at: number | undefined = start;
    while (at !== undefined && state[at] === 0) {
      state[at] = 1;
      path.push(at);
      at = parent[at];
    }
    if (at !== undefined && state[at] === 1) {
      const cycle = path.slice(path.indexOf(at));
      const names = [...cycle, at].map((k) => str(agents[k]?.['name']) ?? `agents[${k}]`);
      issues.push({ path: `agents[${Math.min(...cycle)}].reportsTo`, message: `reportsTo forms a cycle: ${names.join(' → ')}` });
    }
    for (const k of path) state[k] = 2;
  }
}
