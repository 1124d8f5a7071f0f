import { z } from 'zod';
import { roundCost } from '@flotilla/domain';
import { idOf, isoTime } from './common.js';
import { route } from './route.js';

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const TASK_STATUSES = [
  'queued',
  'running',
  'completed',
  'failed',
  'dead_lettered',
  'rejected',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Capability names are also subject tokens. */
const capability = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a capability name (lowercase letters, digits, - or _)');

export const submitTaskRequest = z.strictObject({
  cluster_id: idOf('cluster'),
  payload: z.unknown().default(null),
  priority: z.enum(PRIORITIES).default('normal'),
  capability: capability.optional(),
  /** A repeat with the same key returns the first task and enqueues nothing. */
  idempotency_key: z.string().min(1).max(200).optional(),
  timeout_ms: z.number().int().min(10).max(3_600_000).default(30_000),
  max_attempts: z.number().int().min(1).max(20).default(3),
  /** Set on inter-cluster messages: the cluster that sent it (kept on the task, traced across both). */
  source_cluster: idOf('cluster').optional(),
});
export type SubmitTaskRequest = z.infer<typeof submitTaskRequest>;

/** Tokens an attempt used and what they cost, as its endpoint reported them. */
export const tokenUsage = z.object({ input: z.number(), output: z.number() });

/**
 * One attempt of a task, as the node agent that ran it recorded it: the agent and what it ran
 * (its spec hash and blueprint version), where, with which runtime and endpoint, how long, the
 * tokens and their cost, and the outcome.
 */
export const taskAttempt = z.object({
  attempt: z.number(),
  agent_id: z.string(),
  node_id: z.string(),
  /** Null for an agent placed before assignments carried its lineage. */
  spec_hash: z.string().nullable(),
  blueprint_version: z.string().nullable(),
  runtime: z.enum(['builtin', 'http', 'openai']),
  /** The URL the runtime called (`builtin:<handler>` for a builtin). */
  endpoint: z.string(),
  model: z.string().nullable(),
  started_at: isoTime,
  finished_at: isoTime,
  duration_ms: z.number(),
  tokens: tokenUsage.nullable(),
  /** What the attempt's tokens cost at its model's price (0 when its blueprint does not price the model). */
  cost: z.number(),
  currency: z.string().nullable(),
  outcome: z.enum(['completed', 'failed']),
  error: z.string().nullable(),
});
export type TaskAttempt = z.infer<typeof taskAttempt>;

export const taskView = z.object({
  id: z.string(),
  cluster_id: z.string(),
  /** Where it actually runs: the cluster itself, or its backup while its circuit breaker is open. */
  routed_to: z.string(),
  tenant_id: z.string(),
  status: z.enum(TASK_STATUSES),
  priority: z.enum(PRIORITIES),
  capability: z.string().nullable(),
  payload: z.unknown(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  attempts: z.number(),
  max_attempts: z.number(),
  timeout_ms: z.number(),
  idempotency_key: z.string().nullable(),
  source_cluster: z.string().nullable(),
  agent_id: z.string().nullable(),
  node_id: z.string().nullable(),
  submitted_at: isoTime,
  started_at: isoTime.nullable(),
  finished_at: isoTime.nullable(),
  /** Every attempt that ended, oldest first: the task's lineage. */
  lineage: z.array(taskAttempt),
  /** The attempts' tokens and cost, summed. */
  usage: z.object({ input_tokens: z.number(), output_tokens: z.number(), cost: z.number(), currency: z.string().nullable() }),
});
export type TaskView = z.infer<typeof taskView>;

/** The attempts' tokens and cost, summed (a task's `usage`). */
export function usageOf(lineage: readonly TaskAttempt[]): TaskView['usage'] {
  let input = 0;
  let output = 0;
  let cost = 0;
  for (const a of lineage) {
    input += a.tokens?.input ?? 0;
    output += a.tokens?.output ?? 0;
    cost += a.cost;
  }
  return { input_tokens: input, output_tokens: output, cost: roundCost(cost), currency: lineage.find((a) => a.currency)?.currency ?? null };
}

export const taskRoutes = {
  submit: route(
    'orchestrator',
    'orchestrator.tasks.submit',
    submitTaskRequest,
    taskView,
    'Submit a task to a cluster (answered once it is queued).',
    'write',
  ),
  get: route(
    'orchestrator',
    'orchestrator.tasks.get',
    z.strictObject({ id: idOf('task') }),
    taskView,
    'A task, with its state and result.',
    'read',
  ),
  deadLetters: route(
    'orchestrator',
    'orchestrator.tasks.dead-letters',
    z.strictObject({ id: idOf('cluster'), limit: z.coerce.number().int().min(1).max(500).default(100) }),
    z.object({
      cluster_id: z.string(),
      /** Dead letters the cluster has (the list holds the newest `limit`). */
      total: z.number(),
      dead_letters: z.array(
        z.object({
          task_id: z.string(),
          reason: z.string(),
          dead_at: isoTime,
          priority: z.string(),
          capability: z.string().nullable(),
          max_attempts: z.number(),
          submitted_at: isoTime,
        }),
      ),
    }),
    "A cluster's dead-lettered tasks, newest first: why each was given up and when (kept 7 days).",
    'read',
  ),
} as const;

/**
 * Task subjects (JetStream unless noted):
 * - `flotilla.taskq.<clusterId>.<priority>.<capability|_any>`: the queue, stream FLOTILLA_TASKS
 *   (work-queue retention); one durable pull consumer per (cluster, priority, capability).
 * - `flotilla.taskdlq.<clusterId>.<taskId>`: dead letters, stream FLOTILLA_TASKS_DLQ.
 * - `flotilla.tasks.<clusterId>.<taskId>.completed|failed`: results (core NATS).
 */
export const TASKS_STREAM = 'FLOTILLA_TASKS';
export const TASKS_DLQ_STREAM = 'FLOTILLA_TASKS_DLQ';
export const TASKS_BUCKET = 'flotilla_tasks';
/**
 * Every attempt's outcome, kept (limits-based, TASK_OUTCOMES_MAX_AGE) on the result subjects:
 * node agents publish each attempt's end here with the attempt as its message id, so the metrics
 * service accounts every attempt exactly once, whatever restarts in between.
 */
export const TASK_OUTCOMES_STREAM = 'FLOTILLA_TASK_OUTCOMES';
export const ANY_CAPABILITY = '_any';

export const taskSubjects = {
  queue: (clusterId: string, priority: Priority, cap: string | null | undefined) =>
    `flotilla.taskq.${clusterId}.${priority}.${cap ?? ANY_CAPABILITY}`,
  queueAll: 'flotilla.taskq.>',
  cluster: (clusterId: string) => `flotilla.taskq.${clusterId}.>`,
  dead: (clusterId: string, taskId: string) => `flotilla.taskdlq.${clusterId}.${taskId}`,
  deadAll: 'flotilla.taskdlq.>',
  result: (clusterId: string, taskId: string, outcome: 'completed' | 'failed') =>
    `flotilla.tasks.${clusterId}.${taskId}.${outcome}`,
  results: 'flotilla.tasks.*.*.*',
  /**
   * One attempt's end, for accounting (JetStream, stream FLOTILLA_TASK_OUTCOMES): the node that
   * ran it is the subject's, and only that node's NATS user may publish under it.
   */
  attemptOutcome: (nodeId: string, clusterId: string, taskId: string) => `flotilla.outcomes.${nodeId}.${clusterId}.${taskId}`,
  attemptOutcomesOf: (nodeId: string) => `flotilla.outcomes.${nodeId}.>`,
  attemptOutcomes: 'flotilla.outcomes.>',
} as const;

/** The durable consumer of one queue (names allow letters, digits, - and _). */
export const taskConsumer = (
  clusterId: string,
  priority: Priority,
  cap: string | null | undefined,
) => `tq_${clusterId}_${priority}_${cap ?? ANY_CAPABILITY}`.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * The message on a task queue. It carries everything the task's record holds, so an agent can
 * write a record the submitter did not get to (it died between queuing and recording).
 * `tenant_id` and `idempotency_key` are absent from messages queued by older orchestrators.
 */
export const queuedTask = z.object({
  id: z.string(),
  cluster_id: z.string(),
  routed_to: z.string(),
  tenant_id: z.string().optional(),
  idempotency_key: z.string().nullable().optional(),
  priority: z.enum(PRIORITIES),
  capability: z.string().nullable(),
  payload: z.unknown(),
  timeout_ms: z.number(),
  max_attempts: z.number(),
  source_cluster: z.string().nullable(),
  submitted_at: isoTime,
});
export type QueuedTask = z.infer<typeof queuedTask>;

/** What a task result subject carries. */
export const taskOutcome = z.object({
  task_id: z.string(),
  cluster_id: z.string(),
  routed_to: z.string(),
  outcome: z.enum(['completed', 'failed']),
  /** A failure after which no more attempts are made (dead-lettered). */
  final: z.boolean(),
  attempt: z.number(),
  agent_id: z.string(),
  node_id: z.string(),
  latency_ms: z.number(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  at: isoTime,
  /** The task's tenant (absent from outcomes of tasks queued by older orchestrators). */
  tenant_id: z.string().optional(),
  /** The attempt as the task's lineage records it (absent on a duplicate's re-announcement and on older node agents). */
  lineage: taskAttempt.optional(),
});
export type TaskOutcome = z.infer<typeof taskOutcome>;

/** What `flotilla.outcomes.<node>.<cluster>.<task>` carries: one attempt's end, for accounting. */
export const attemptOutcome = z.object({
  task_id: z.string(),
  cluster_id: z.string(),
  routed_to: z.string(),
  tenant_id: z.string().nullable(),
  lineage: taskAttempt,
});
export type AttemptOutcome = z.infer<typeof attemptOutcome>;

/** Weighted pulls: out of 10 pulls, 6 try high first, 3 normal, 1 low (empty queues are skipped). */
export const PRIORITY_SCHEDULE: readonly Priority[] = [
  'high',
  'normal',
  'high',
  'high',
  'normal',
  'high',
  'low',
  'high',
  'normal',
  'high',
];
