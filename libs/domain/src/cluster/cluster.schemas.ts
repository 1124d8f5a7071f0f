import { z } from 'zod';
import { CLUSTER_TYPES, ScalingSchema, workerCount } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint } from '../blueprint/blueprint.types.js';
import { formatPath } from '../blueprint/blueprint.validate.js';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { idProblem, isValidId, type IdKind } from '../ids.js';
import { isPlainJson, type JsonValue } from '../json.js';

/**
 * What a cluster command may carry, once: the decider parses every command's data with the
 * schema of its type, and the public request schemas (`@flotilla/contracts`) are built from the
 * same field schemas, so a limit (a name's length, the most workers) lives here and nowhere else.
 */
export const CLUSTER_LIMITS = {
  name: 200,
  /** As long as a blueprint's description, which a cluster takes when it is given none. */
  description: 4000,
  reason: 1000,
} as const;

/** An id of one kind: a DNS label (`marketing-prod`) or a TypeID (`cluster_01j…`). */
export const idSchema = (kind: IdKind) => z.string().refine((v) => isValidId(kind, v), { error: (issue) => idProblem(kind, issue.input) });

const nonBlank = (what: string, max: number) =>
  z
    .string()
    .min(1, `expected ${what} that is not blank`)
    .max(max, `expected ${what} of at most ${max} characters`)
    .refine((v) => v.trim() !== '', `expected ${what} that is not blank`);

export const clusterName = nonBlank('a name', CLUSTER_LIMITS.name);
export const clusterDescription = z.string().max(CLUSTER_LIMITS.description, `expected at most ${CLUSTER_LIMITS.description} characters`);
/** Why a change is asked for, in the words of whoever asks. */
export const reasonText = z.string().max(CLUSTER_LIMITS.reason, `expected at most ${CLUSTER_LIMITS.reason} characters`);
/** A reason a fact cannot be recorded without (an agent's failure, a degradation). */
export const requiredReason = nonBlank('a reason', CLUSTER_LIMITS.reason);

const jsonObject = z.custom<Readonly<Record<string, JsonValue>>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && isPlainJson(v),
  'expected a plain JSON object',
);

/** The shape `resolveBlueprint` returns, checked where it matters to the cluster (it is stored in ClusterCreated). */
const resolvedBlueprint = z.custom<ResolvedBlueprint>((value) => {
  const b = value as Partial<ResolvedBlueprint> | null;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.blueprintId === 'string' &&
    typeof b.version === 'string' &&
    typeof b.hash === 'string' &&
    typeof b.cluster === 'object' &&
    b.cluster !== null &&
    Number.isSafeInteger(b.cluster.minWorkers) &&
    Number.isSafeInteger(b.cluster.maxWorkers) &&
    Number.isSafeInteger(b.cluster.targetWorkers) &&
    Array.isArray(b.agents) &&
    b.agents.filter((a) => a.role === 'supervisor').length === 1 &&
    isPlainJson(b)
  );
}, 'expected a resolved blueprint (resolveBlueprint output)');

/** A change to a scaling policy: the blueprint's fields, each optional; `hibernateWhenIdleSeconds: null` turns idle hibernation off. */
export const ScalingPolicyPatchSchema = ScalingSchema.extend({ hibernateWhenIdleSeconds: ScalingSchema.shape.hibernateWhenIdleSeconds.nullable() });

const agentRef = { agentId: idSchema('agent') };
const reasonOptional = { reason: reasonText.optional() };

export const CreateClusterData = z.object({
  clusterId: idSchema('cluster'),
  tenantId: idSchema('tenant'),
  name: clusterName,
  description: clusterDescription.optional(),
  /** Defaults to the blueprint's cluster type. */
  type: z.enum(CLUSTER_TYPES).optional(),
  blueprint: resolvedBlueprint,
  /** Defaults to the blueprint's targetWorkers. */
  targetWorkers: workerCount.optional(),
});

/**
 * Agents the reconciler is about to place. Ids are chosen by the caller before placement, so a
 * retried spawn + placement is idempotent; role and spec come from the blueprint snapshot.
 */
export const SpawnAgentsData = z.object({
  agents: z.array(z.object({ agentId: idSchema('agent'), name: z.string(), ordinal: z.number().int().min(0) })),
});

export const RecordAgentPlacedData = z.object({ ...agentRef, nodeId: idSchema('node') });
export const RecordAgentStartedData = z.object({ ...agentRef, nodeId: idSchema('node') });
export const RecordAgentFailedData = z.object({ ...agentRef, reason: requiredReason });
export const RecordAgentStoppedData = z.object({ ...agentRef, ...reasonOptional });
export const RecordAgentOrphanedData = z.object({ ...agentRef, nodeId: idSchema('node') });
export const RecordAgentReplacedData = z
  .object({ ...agentRef, fromNodeId: idSchema('node'), toNodeId: idSchema('node') })
  .refine((d) => d.fromNodeId !== d.toNodeId, { path: ['toNodeId'], message: 'must differ from fromNodeId' });

export const SCALING_SOURCES = ['manual', 'autoscaler', 'budget'] as const;
export const ScaleClusterData = z.object({
  targetWorkers: workerCount,
  reason: reasonText,
  source: z.enum(SCALING_SOURCES),
  inputs: jsonObject.optional(),
});

export const SCALING_DECISIONS = ['up', 'down', 'hold', 'hibernate', 'wake'] as const;
/** What the autoscaler decided and why (callers may skip chatty `hold` decisions). */
export const RecordScalingDecisionData = z.object({
  decision: z.enum(SCALING_DECISIONS),
  target: workerCount.optional(),
  reason: z.string(),
  rule: z.string().optional(),
  inputs: jsonObject,
});

export const HibernateClusterData = z.object(reasonOptional);
export const ReactivateClusterData = z.object(reasonOptional);
export const UpdateClusterData = z.object({
  name: clusterName.optional(),
  description: clusterDescription.optional(),
  minWorkers: workerCount.optional(),
  maxWorkers: workerCount.optional(),
  /** Fields to change in the scaling policy; the rest is kept. */
  policy: ScalingPolicyPatchSchema.optional(),
});
export const MarkClusterDegradedData = z.object({ reason: requiredReason });
export const MarkClusterRecoveredData = z.object(reasonOptional);
export const DecommissionClusterData = z.object(reasonOptional);

/** The metrics service found a budget's spend at or over its amount in the period starting `periodStart`. */
export const RecordBudgetCrossingData = z.object({
  budget: z.number().int().min(0).max(7),
  periodStart: z.iso.datetime({ offset: true }),
  spent: z.number().min(0),
});

/** The cluster's tenant crossed one of its budgets (figures from the tenant's aggregate): the cluster takes its action. */
export const ApplyTenantBudgetData = z.object({
  budget: z.number().int().min(0).max(7),
  period: z.enum(['day', 'month']),
  periodStart: z.iso.datetime({ offset: true }),
  amount: z.number().positive(),
  spent: z.number().min(0),
  currency: z.string().regex(/^[A-Z]{3}$/),
  action: z.enum(['warn', 'throttle', 'scale_down']),
});

export const ROLLOUT_LIMITS = { maxSurge: 100, maxUnavailable: 100, pauseAfter: 1000 } as const;
/** A rolling upgrade to another version of the cluster's blueprint (resolved in the cluster's environment). */
export const StartRolloutData = z
  .object({
    blueprint: resolvedBlueprint,
    maxSurge: z.number().int().min(0).max(ROLLOUT_LIMITS.maxSurge),
    maxUnavailable: z.number().int().min(0).max(ROLLOUT_LIMITS.maxUnavailable),
    /** Pause after this many waves (a canary); absent: roll to the end. */
    pauseAfter: z.number().int().min(1).max(ROLLOUT_LIMITS.pauseAfter).optional(),
    reason: reasonText.optional(),
  })
  .refine((d) => d.maxSurge + d.maxUnavailable > 0, { path: ['maxSurge'], message: 'maxSurge and maxUnavailable cannot both be 0: no agent could be replaced' });
/** The next wave's new agents (ids chosen by the caller, so a retried wave is idempotent). */
export const SpawnRolloutWaveData = z.object({
  wave: z.number().int().min(1),
  agents: z.array(z.object({ agentId: idSchema('agent'), name: z.string(), ordinal: z.number().int().min(0) })).min(1),
});
export const PauseRolloutData = z.object(reasonOptional);
export const ResumeRolloutData = z.object(reasonOptional);
export const UndoRolloutData = z.object(reasonOptional);

export const CIRCUIT_STATUSES = ['closed', 'open', 'half_open'] as const;
export const RecordCircuitBreakerTransitionData = z.object({
  from: z.enum(CIRCUIT_STATUSES),
  to: z.enum(CIRCUIT_STATUSES),
  reason: reasonText,
});

/** Parses a command's data with its schema, or throws a ValidationError naming every bad path. */
export function parseCommandData<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issues: ValidationIssue[] = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  throw ValidationError.of(issues, 'command');
}
