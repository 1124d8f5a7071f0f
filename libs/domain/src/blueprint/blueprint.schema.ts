import { z } from 'zod';
import { SEMVER_PATTERN } from '../semver.js';

/**
 * The blueprint format, `apiVersion: flotilla/v1`, as one zod schema. It checks structure only;
 * the cross-field rules (one supervisor, a reportsTo tree, min ≤ target ≤ max, sane thresholds)
 * live in blueprint.validate.ts. The committed JSON Schema (schema/blueprint.schema.json) is
 * generated from this file, so editors validate blueprints with the same rules.
 *
 * Optional fields stay optional here (a validated blueprint is what its author wrote); defaults
 * are filled by resolveBlueprint and documented with `.meta({ default })` for the JSON Schema.
 */
export const BLUEPRINT_API_VERSION = 'flotilla/v1';
export const CLUSTER_TYPES = ['department', 'project', 'team', 'campaign', 'research', 'custom'] as const;
export const AGENT_ROLES = ['supervisor', 'lead', 'specialist', 'worker'] as const;
export const PLACEMENT_STRATEGIES = ['round-robin', 'least-loaded', 'least-agents', 'random', 'weighted', 'health-based'] as const;
export const BUILTIN_HANDLERS = ['echo', 'sleep', 'cpu-burn', 'fail'] as const;
export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;

export type ClusterType = (typeof CLUSTER_TYPES)[number];
export type AgentRole = (typeof AGENT_ROLES)[number];
export type PlacementStrategy = (typeof PLACEMENT_STRATEGIES)[number];
export type BuiltinHandler = (typeof BUILTIN_HANDLERS)[number];
export type Environment = (typeof ENVIRONMENTS)[number];

/** DNS label or a TypeID with the given prefix (see ids.ts; repeated here so the JSON Schema carries it). */
const idPattern = (prefix: string): RegExp =>
  new RegExp(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|${prefix}_[0-7][0-9a-hjkmnp-tv-z]{25})$`);

const blueprintId = z
  .string()
  .regex(idPattern('blueprint'), { error: "expected a DNS label such as 'marketing-v1' or a TypeID 'blueprint_…'" });
const clusterId = z
  .string()
  .regex(idPattern('cluster'), { error: "expected a cluster id: a DNS label such as 'core' or a TypeID 'cluster_…'" });
export const AGENT_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,46}[a-z0-9])?$/;
const agentName = z
  .string()
  .regex(AGENT_NAME_PATTERN, { error: 'expected an agent name: lowercase letters, digits and -, starting with a letter (at most 48 characters)' });
const token = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:/-]{0,63}$/, { error: 'expected a lowercase token (letters, digits, . _ : / -; at most 64 characters)' });
const labelKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, { error: 'expected a label key (letters, digits, . _ / -; at most 63 characters)' });
const labelValue = z.string().max(63);
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const seconds = (max = 86_400) => int(0, max);
const percent = z.number().min(0).max(100);

export const ResourcesSchema = z
  .strictObject({
    cpu: z.number().positive().max(1024).meta({ description: 'CPU cores per agent (0.5 = half a core)', default: 0.5 }),
    memoryMb: int(1, 4_194_304).meta({ description: 'memory per agent in MiB', default: 512 }),
  })
  .partial()
  .meta({ description: 'resources one agent reserves on its node' });

export const ZoneSpreadSchema = z.union([z.boolean(), z.strictObject({ maxPerZone: int(1, 100_000) })], {
  error: 'expected true, false or { maxPerZone: n }',
});

export const PlacementSchema = z
  .strictObject({
    strategy: z.enum(PLACEMENT_STRATEGIES).meta({ description: "placement strategy; when absent, the registry's current default (POST /api/cluster/balance switches it at run time)" }),
    requiredServices: z.array(token).max(32).meta({ description: 'services a node must offer', default: [] }),
    requiredLabels: z.record(labelKey, labelValue).meta({ description: 'labels a node must carry (exact values)', default: {} }),
    zoneSpread: ZoneSpreadSchema.meta({
      description: "true spreads the cluster's agents evenly over zones; { maxPerZone: n } also caps each zone",
      default: false,
    }),
    antiAffinity: z.boolean().meta({ description: 'never two agents of this cluster on one node', default: false }),
  })
  .partial();

export const ScalingSchema = z
  .strictObject({
    enabled: z.boolean().meta({ default: true }),
    queuePerWorkerUp: z.number().positive().max(1_000_000).meta({ description: 'scale up when queued tasks per worker exceed this', default: 10 }),
    queuePerWorkerDown: z.number().min(0).max(1_000_000).meta({ description: 'scale down when queued tasks per worker fall below this', default: 2 }),
    cpuUp: percent.meta({ description: 'scale up when mean CPU % exceeds this', default: 80 }),
    cpuDown: percent.meta({ description: 'scale down only while mean CPU % is below this', default: 30 }),
    stepPercent: z.number().positive().max(1000).meta({ description: 'step size in % of current workers (at least one worker)', default: 20 }),
    cooldownUpSeconds: seconds().meta({ description: 'minimum time between two scale-ups', default: 300 }),
    cooldownDownSeconds: seconds().meta({ description: 'minimum time between two scale-downs', default: 300 }),
    stabilizationSeconds: seconds().meta({
      description: 'scale down to the highest recommendation of this window; no reversal of direction inside it',
      default: 300,
    }),
    evaluationIntervalSeconds: int(1, 3600).meta({ description: 'how often the autoscaler evaluates the policy', default: 60 }),
    hibernateWhenIdleSeconds: int(1, 30 * 86_400).meta({ description: 'hibernate after this long with no queued or running task' }),
    wakeOnTask: z.boolean().meta({ description: 'reactivate a hibernated cluster on its first queued task', default: true }),
  })
  .partial();

export const MonitoringSchema = z
  .strictObject({ intervalSeconds: int(1, 3600).meta({ description: 'metrics snapshot interval in seconds (seed 000 used 30)', default: 5 }) })
  .partial();

export const CircuitBreakerSchema = z
  .strictObject({
    enabled: z.boolean().meta({ default: true }),
    failureThreshold: int(1, 10_000).meta({ description: 'consecutive failures that open the breaker', default: 5 }),
    openSeconds: int(1, 86_400).meta({ description: 'how long the breaker stays open before probing', default: 30 }),
    halfOpenProbes: int(1, 1000).meta({ description: 'successful probes that close it again', default: 1 }),
  })
  .partial();

export const HibernationSchema = z
  .strictObject({
    keepFixedAgents: z.boolean().meta({ description: 'keep supervisor, leads and specialists running while hibernated', default: true }),
  })
  .partial();

const BuiltinRuntimeSchema = z.strictObject({
  kind: z.literal('builtin'),
  handler: z.enum(BUILTIN_HANDLERS),
  delayMs: int(0, 3_600_000).optional().meta({ description: 'sleep / cpu-burn duration per task (default 100 / 50 ms)' }),
  failureRate: z.number().min(0).max(1).optional().meta({ description: 'share of tasks that fail (default 1 for fail, else 0)' }),
});

/**
 * Headers the node agent sets itself (or that would change what the request is, or where it
 * goes): a blueprint may not set them.
 */
export const RESERVED_HTTP_HEADERS = ['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-authorization', 'proxy-connection'] as const;
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, { error: 'expected a header name (letters, digits and -; at most 64 characters)' })
  .refine((name) => !(RESERVED_HTTP_HEADERS as readonly string[]).includes(name.toLowerCase()), {
    error: (issue) => `header '${String(issue.input)}' is set by the node agent; a blueprint may not set it`,
  });

const HttpRuntimeSchema = z.strictObject({
  kind: z.literal('http'),
  url: httpUrl,
  method: z.enum(['POST', 'PUT']).optional().meta({ default: 'POST' }),
  timeoutMs: int(1, 3_600_000).optional().meta({ default: 30_000 }),
  headers: z
    .record(headerName, z.string().max(1024))
    .optional()
    .meta({ description: 'request headers; their values are never shown by the API (a redaction marker stands in for each)' }),
});

/**
 * The only environment variables an agent may read a secret from. A node agent's environment
 * holds its own settings too (its NATS password, at least); a blueprint naming any variable
 * could send that to a URL of its choosing. The node agent enforces the prefix again at run time.
 */
export const AGENT_SECRET_PREFIX = 'AGENT_SECRET_';
export const AGENT_SECRET_ENV_PATTERN = /^AGENT_SECRET_[A-Z0-9_]{1,115}$/;

const OpenAiRuntimeSchema = z.strictObject({
  kind: z.literal('openai'),
  baseUrl: httpUrl,
  model: z.string().min(1).max(200),
  systemPrompt: z.string().max(32_000).optional(),
  apiKeyEnv: z
    .string()
    .regex(AGENT_SECRET_ENV_PATTERN, {
      error: `expected the NAME of an environment variable of the node agent that starts with ${AGENT_SECRET_PREFIX} (e.g. ${AGENT_SECRET_PREFIX}OPENAI_KEY) and holds the key; agents may read no other variable`,
    })
    .optional()
    .meta({ description: `name of the node agent's environment variable holding the API key; must start with ${AGENT_SECRET_PREFIX}` }),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: int(1, 1_000_000).optional(),
  timeoutMs: int(1, 3_600_000).optional().meta({ default: 60_000 }),
});

export const RuntimeSchema = z.discriminatedUnion('kind', [BuiltinRuntimeSchema, HttpRuntimeSchema, OpenAiRuntimeSchema]);

export const AgentSchema = z.strictObject({
  name: agentName,
  role: z.enum(AGENT_ROLES),
  description: z.string().max(4000).optional(),
  count: int(1, 1000).optional().meta({ description: 'instances of a supervisor, lead or specialist (workers use weight)', default: 1 }),
  weight: int(1, 1000).optional().meta({ description: "a worker kind's share of the worker pool", default: 1 }),
  capabilities: z.array(token).max(64).optional(),
  runtime: RuntimeSchema,
  reportsTo: agentName.optional().meta({ description: 'name of the agent this one reports to (default: the supervisor)' }),
  resources: ResourcesSchema.optional().meta({ description: "overrides cluster.resources for this agent" }),
});

export const RUNTIME_KINDS = ['builtin', 'http', 'openai'] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];
/** An amount of money in the pricing's currency (at most 1,000,000 per unit). */
const money = z.number().min(0).max(1_000_000);

export const PricingSchema = z
  .strictObject({
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { error: "expected an ISO 4217 currency code such as 'USD'" })
      .optional()
      .meta({ description: 'the currency of every price here (costs are reported in it)', default: 'USD' }),
    agentHour: z
      .strictObject({
        default: money.optional().meta({ description: 'per agent-hour of any agent not priced by role or runtime', default: 0 }),
        roles: z.partialRecord(z.enum(AGENT_ROLES), money).optional().meta({ description: 'per agent-hour by role (wins over runtimes)' }),
        runtimes: z.partialRecord(z.enum(RUNTIME_KINDS), money).optional().meta({ description: 'per agent-hour by runtime kind' }),
      })
      .optional()
      .meta({ description: 'what a running agent costs per hour, from its start to its stop' }),
    models: z
      .record(
        z.string().min(1).max(200),
        z.strictObject({
          inputPer1k: money.meta({ description: 'per 1,000 input (prompt) tokens' }),
          outputPer1k: money.meta({ description: 'per 1,000 output (completion) tokens' }),
        }),
      )
      .optional()
      .meta({ description: 'token prices by model name (as the endpoint reports it, else as the runtime names it)' }),
  })
  .meta({ description: "what this cluster's agents cost: agent-hours and model tokens" });

export const BUDGET_ACTIONS = ['warn', 'throttle', 'scale_down', 'failover'] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];
export const BUDGET_PERIODS = ['day', 'month'] as const;

export const BudgetSchema = z
  .strictObject({
    amount: z.number().positive().max(1_000_000_000).meta({ description: "spend (in the pricing's currency) at which the action fires" }),
    period: z.enum(BUDGET_PERIODS).optional().meta({ description: 'the UTC day or month the spend is counted over', default: 'day' }),
    action: z.enum(BUDGET_ACTIONS).meta({
      description:
        'warn: an event and a metric; throttle: tasks refused with 429 until the period ends; scale_down: to minWorkers, the autoscaler held; failover: tasks go to cluster.backupCluster',
    }),
  })
  .meta({ description: 'a spending limit per period and what happens when it is reached (every crossing is an event with the figures)' });

/** A number of workers: the one bound every blueprint, command and request shares. */
export const workerCount = int(0, 10_000);
const workerBounds = { minWorkers: workerCount, targetWorkers: workerCount, maxWorkers: workerCount };

export const ClusterSpecSchema = z.strictObject({
  type: z.enum(CLUSTER_TYPES),
  minWorkers: workerBounds.minWorkers,
  targetWorkers: workerBounds.targetWorkers.optional().meta({ description: 'initial worker count (default: minWorkers)' }),
  maxWorkers: workerBounds.maxWorkers,
  resources: ResourcesSchema.optional(),
  placement: PlacementSchema.optional(),
  scaling: ScalingSchema.optional(),
  monitoring: MonitoringSchema.optional(),
  circuitBreaker: CircuitBreakerSchema.optional(),
  backupCluster: clusterId.optional().meta({ description: 'cluster that takes tasks while this one’s circuit breaker is open' }),
  hibernation: HibernationSchema.optional(),
  pricing: PricingSchema.optional(),
  budgets: z.array(BudgetSchema).max(8).optional(),
});

export const EnvironmentOverlaySchema = z
  .strictObject({
    minWorkers: workerBounds.minWorkers,
    targetWorkers: workerBounds.targetWorkers,
    maxWorkers: workerBounds.maxWorkers,
    resources: ResourcesSchema,
    placement: PlacementSchema,
    scaling: ScalingSchema,
    monitoring: MonitoringSchema,
    circuitBreaker: CircuitBreakerSchema,
    backupCluster: clusterId,
    hibernation: HibernationSchema,
  })
  .partial()
  .meta({ description: 'overrides of cluster settings for one environment' });

export const BlueprintSchema = z
  .strictObject({
    apiVersion: z.literal(BLUEPRINT_API_VERSION),
    kind: z.literal('Blueprint'),
    metadata: z.strictObject({
      id: blueprintId,
      name: z.string().min(1).max(200),
      version: z
        .string({
          error: (issue) =>
            issue.input === undefined ? 'required: expected a semantic version' : "expected a semantic version such as '1.2.0' (quote it in YAML: '1.0' is a number)",
        })
        .regex(new RegExp(SEMVER_PATTERN), { error: "expected a semantic version such as '1.2.0'" }),
      description: z.string().max(4000).optional(),
      tags: z.array(token).max(50).optional(),
    }),
    cluster: ClusterSpecSchema,
    agents: z.array(AgentSchema).min(1).max(200),
    environments: z
      .strictObject({
        development: EnvironmentOverlaySchema,
        staging: EnvironmentOverlaySchema,
        production: EnvironmentOverlaySchema,
      })
      .partial()
      .optional(),
  })
  .meta({
    $id: 'https://flotilla.dev/schemas/blueprint.schema.json',
    title: 'Flotilla blueprint (flotilla/v1)',
    description:
      'A cluster of AI agents: hierarchy (supervisor → leads → specialists → workers), scaling, placement and runtimes. ' +
      'Cross-field rules (one supervisor, reportsTo forms a tree, minWorkers ≤ targetWorkers ≤ maxWorkers, ' +
      'scale-down thresholds below scale-up ones) are checked by Flotilla on top of this schema.',
  });

/** A validated blueprint document, as its author wrote it (optional fields may be absent). */
export type Blueprint = z.output<typeof BlueprintSchema>;
export type BlueprintAgent = Blueprint['agents'][number];
export type BlueprintRuntime = z.output<typeof RuntimeSchema>;
export type EnvironmentOverlay = z.output<typeof EnvironmentOverlaySchema>;
