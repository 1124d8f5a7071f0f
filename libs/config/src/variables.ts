import { z } from 'zod';
import { egressAllowSchema, egressTargetsSchema } from './egress.js';

/**
 * Every environment variable Flotilla reads, in one table. Each service parses the whole
 * table at start (defaults make local runs work with no environment at all); `.env.example`,
 * the README's configuration table and the compose files are checked against it in tests.
 */
const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const millis = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v));
const list = (fallback = '') =>
  z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
const url = (fallback: string, protocols: RegExp) =>
  z.string().default(fallback).pipe(z.url({ protocol: protocols }));

export interface VariableSpec {
  readonly schema: z.ZodType;
  readonly description: string;
  /** Shown in .env.example and the README; the schema's default is the source of truth. */
  readonly example: string;
  /** Services that read it; `*` for all. */
  readonly usedBy: readonly string[];
}

export const variables = {
  NODE_ENV: {
    schema: z.enum(['development', 'test', 'production']).default('development'),
    description: 'Runtime mode: development, test or production.',
    example: 'development',
    usedBy: ['*'],
  },
  LOG_LEVEL: {
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    description: 'Minimum level of the JSON log lines written to stdout.',
    example: 'info',
    usedBy: ['*'],
  },
  SERVICE_INSTANCE_ID: {
    schema: optionalString(),
    description: 'Identity of this replica (leases, health); defaults to <service>-<hostname>-<pid>.',
    example: '',
    usedBy: ['*'],
  },
  FLOTILLA_NAMESPACE: {
    schema: z
      .string()
      .default('')
      .pipe(z.string().regex(/^([a-z][a-z0-9_-]{0,31})?$/, 'a lowercase token of up to 32 letters, digits, - or _ (or empty)')),
    description:
      'Prefix for every NATS subject, stream, consumer and KV bucket, so that several stacks (or test runs) share one NATS without seeing each other. Empty in production.',
    example: '',
    usedBy: ['*'],
  },
  NATS_URL: {
    schema: list('nats://127.0.0.1:4222').pipe(
      z.array(z.string().regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, 'a nats:// URL')).min(1, 'at least one NATS server URL'),
    ),
    description: 'NATS server URL(s), comma-separated for a cluster.',
    example: 'nats://127.0.0.1:4222',
    usedBy: ['*'],
  },
  NATS_USER: { schema: optionalString(), description: 'NATS user name (with NATS_PASSWORD).', example: '', usedBy: ['*'] },
  NATS_PASSWORD: { schema: optionalString(), description: 'NATS password.', example: '', usedBy: ['*'] },
  NATS_PASSWORD_FILE: {
    schema: optionalString(),
    description:
      'A file holding the NATS password, read once at start (a trailing newline is dropped), instead of NATS_PASSWORD: set one of them, not both. Kubernetes node agents read the password their init container derived for their pod from one.',
    example: '',
    usedBy: ['*'],
  },
  NATS_STREAM_REPLICAS: {
    schema: z.coerce.number().int().min(1).max(5).default(1),
    description: 'Replicas of every JetStream stream and KV bucket Flotilla creates (3 on a NATS cluster).',
    example: '1',
    usedBy: ['*'],
  },
  DATABASE_URL: {
    schema: url('postgres://postgres@127.0.0.1:5432/flotilla', /^postgres(ql)?$/),
    description: 'PostgreSQL connection URL for read models (and the event store when EVENT_STORE=postgres).',
    example: 'postgres://postgres@127.0.0.1:5432/flotilla',
    usedBy: ['gateway', 'orchestrator', 'registry', 'autoscaler', 'metrics'],
  },
  DATABASE_POOL_SIZE: {
    schema: z.coerce.number().int().min(1).max(200).default(10),
    description: 'Connections per service process.',
    example: '10',
    usedBy: ['orchestrator', 'registry', 'metrics', 'autoscaler'],
  },
  COMMAND_CACHE_SIZE: {
    schema: z.coerce.number().int().min(100).max(10_000_000).default(20_000),
    description: 'Aggregates (clusters, nodes, blueprints) whose folded state a service keeps in memory, kept current from the log; beyond it the least recently used are read again when needed.',
    example: '20000',
    usedBy: ['orchestrator', 'registry'],
  },
  EVENT_STORE: {
    schema: z.enum(['postgres', 'eventstoredb']).default('postgres'),
    description: 'Event store adapter: postgres (embedded default) or eventstoredb (needs EVENTSTORE_URL).',
    example: 'postgres',
    usedBy: ['orchestrator', 'registry', 'metrics'],
  },
  EVENTSTORE_URL: {
    schema: optionalString(),
    description: 'EventStoreDB/KurrentDB connection string, e.g. esdb://127.0.0.1:2113?tls=false.',
    example: '',
    usedBy: ['orchestrator', 'registry', 'metrics'],
  },
  HTTP_HOST: {
    schema: z.string().default('127.0.0.1'),
    description: 'Interface every HTTP and gRPC listener binds (0.0.0.0 in containers).',
    example: '127.0.0.1',
    usedBy: ['*'],
  },
  GATEWAY_HTTP_PORT: { schema: port(8080), description: 'Gateway REST, SSE, OpenAPI and dashboard port.', example: '8080', usedBy: ['gateway'] },
  DASHBOARD_DIR: {
    schema: optionalString(),
    description: 'Gateway: the built dashboard served at / (default: apps/dashboard/dist beside the gateway; the image sets /app/dashboard).',
    example: '',
    usedBy: ['gateway'],
  },
  GATEWAY_GRPC_PORT: { schema: port(50051), description: 'Gateway gRPC port (package flotilla.v1).', example: '50051', usedBy: ['gateway'] },
  ORCHESTRATOR_HTTP_PORT: { schema: port(8081), description: 'Orchestrator /health, /ready and /metrics.', example: '8081', usedBy: ['orchestrator'] },
  REGISTRY_HTTP_PORT: { schema: port(8082), description: 'Registry /health, /ready and /metrics.', example: '8082', usedBy: ['registry'] },
  AUTOSCALER_HTTP_PORT: { schema: port(8083), description: 'Autoscaler /health, /ready and /metrics.', example: '8083', usedBy: ['autoscaler'] },
  METRICS_HTTP_PORT: { schema: port(8084), description: 'Metrics service /health, /ready and /metrics.', example: '8084', usedBy: ['metrics'] },
  NODE_AGENT_HTTP_PORT: {
    schema: port(8085),
    description: 'Node agent /health, /ready and /metrics (0 picks a free port).',
    example: '8085',
    usedBy: ['node-agent'],
  },
  REQUEST_TIMEOUT_MS: {
    schema: millis(5000),
    description: 'Timeout of a NATS request from one service to another.',
    example: '5000',
    usedBy: ['*'],
  },
  HEALTH_TIMEOUT_MS: {
    schema: millis(1000),
    description: 'How long a health probe waits for a service, NATS or PostgreSQL before calling it down.',
    example: '1000',
    usedBy: ['gateway'],
  },
  SHUTDOWN_GRACE_MS: {
    schema: millis(10000),
    description: 'On SIGTERM/SIGINT, how long in-flight work may take before the process exits anyway.',
    example: '10000',
    usedBy: ['*'],
  },
  OTEL_ENABLED: {
    schema: bool(false),
    description: 'Export traces over OTLP/HTTP (Jaeger in the compose stack).',
    example: 'false',
    usedBy: ['*'],
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    schema: url('http://127.0.0.1:4318', /^https?$/),
    description: 'OTLP/HTTP endpoint; traces go to <endpoint>/v1/traces.',
    example: 'http://127.0.0.1:4318',
    usedBy: ['*'],
  },
  NODE_ID: {
    schema: optionalString().pipe(
      z
        .string()
        .regex(/^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/, 'a DNS label (lowercase letters, digits, -, _)')
        .optional(),
    ),
    description: 'Node agent: this node\'s id (generated and kept under FLOTILLA_DATA_DIR when unset).',
    example: '',
    usedBy: ['node-agent'],
  },
  NODE_ZONE: { schema: z.string().default('zone-a'), description: 'Node agent: availability zone.', example: 'zone-a', usedBy: ['node-agent'] },
  NODE_REGION: { schema: z.string().default('local'), description: 'Node agent: region.', example: 'local', usedBy: ['node-agent'] },
  NODE_LABELS: {
    schema: list(''),
    description: 'Node agent: labels as key=value pairs, comma-separated.',
    example: 'gpu=false,tier=standard',
    usedBy: ['node-agent'],
  },
  NODE_SERVICES: { schema: list(''), description: 'Node agent: services this node offers, comma-separated.', example: 'llm,web', usedBy: ['node-agent'] },
  NODE_ROLE: { schema: z.enum(['worker', 'standby']).default('worker'), description: 'Node agent: worker or standby.', example: 'worker', usedBy: ['node-agent'] },
  NODE_PRIORITY: { schema: z.coerce.number().int().min(0).max(1000).default(100), description: 'Node agent: placement priority.', example: '100', usedBy: ['node-agent'] },
  NODE_CPU: { schema: z.coerce.number().positive().optional(), description: 'Node agent: CPU capacity in cores (defaults to the host\'s).', example: '', usedBy: ['node-agent'] },
  NODE_MEMORY_MB: { schema: z.coerce.number().int().positive().optional(), description: 'Node agent: memory capacity in MiB (defaults to the host\'s).', example: '', usedBy: ['node-agent'] },
  NODE_MAX_AGENTS: { schema: z.coerce.number().int().positive().default(50), description: 'Node agent: most agents this node runs.', example: '50', usedBy: ['node-agent'] },
  NODE_ADDRESS: {
    schema: optionalString(),
    description: 'Node agent: the address this node advertises (defaults to its first non-loopback IPv4 address, else its hostname).',
    example: '',
    usedBy: ['node-agent'],
  },
  NODE_TASK_CONCURRENCY: {
    schema: z.coerce.number().int().positive().default(8),
    description: 'Node agent: tasks executing at once on this node, across all its agents.',
    example: '8',
    usedBy: ['node-agent'],
  },
  AGENT_TASK_CONCURRENCY: {
    schema: z.coerce.number().int().positive().default(2),
    description: 'Node agent: tasks one agent executes at once.',
    example: '2',
    usedBy: ['node-agent'],
  },
  AGENT_EGRESS_ALLOW: {
    schema: egressAllowSchema,
    description:
      "Node agent: destinations the http and openai runtimes of a tenant's agents may reach although the egress policy denies them by default (loopback, link-local, unspecified, multicast): '<tenant>=<destination>[,...]', tenants separated by ';', '*' for every tenant; a destination is a CIDR block, an IP address or a host name, with an optional :port (e.g. 'acme=127.0.0.1:11434,llm.internal;*=192.168.10.0/24'). Never opens AGENT_EGRESS_DENY or the NATS servers, except a destination given with its port.",
    example: '',
    usedBy: ['node-agent'],
  },
  AGENT_EGRESS_DENY: {
    schema: egressTargetsSchema,
    description:
      "Node agent: control-plane destinations no agent may reach, comma-separated CIDR blocks, IP addresses or host names with an optional :port (PostgreSQL, EventStoreDB, the gateway and services, private ranges); the NATS servers of NATS_URL are always in it.",
    example: '',
    usedBy: ['node-agent'],
  },
  AGENT_MAX_RESPONSE_BYTES: {
    schema: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).default(4 * 1024 * 1024),
    description: 'Node agent: the largest reply an http or openai runtime accepts from its endpoint (larger replies fail the task).',
    example: '4194304',
    usedBy: ['node-agent'],
  },
  HEARTBEAT_INTERVAL_MS: { schema: millis(1000), description: 'How often node agents heartbeat.', example: '1000', usedBy: ['node-agent', 'registry'] },
  NODE_SUSPECT_AFTER_MS: { schema: millis(2000), description: 'Registry: silence after which a node is suspected.', example: '2000', usedBy: ['registry'] },
  NODE_OFFLINE_AFTER_MS: { schema: millis(3000), description: 'Registry: silence after which a node is offline and its agents orphaned.', example: '3000', usedBy: ['registry'] },
  RESERVATION_TTL_MS: {
    schema: millis(30000),
    description:
      'Registry: an assignment older than this that neither its node (heartbeats) nor its cluster (the orchestrator\'s read model) confirms is released, so a placement lost between the two services never holds capacity for good.',
    example: '30000',
    usedBy: ['registry'],
  },
  LEASE_TTL_MS: {
    schema: millis(2000),
    description:
      'Leadership lease lifetime. Holders renew four times per lifetime from a worker thread (a busy event loop never costs the lease); a leader whose process is gone is replaced within a second or two, one that is stopped or cut off once its lease expires.',
    example: '2000',
    usedBy: ['*'],
  },
  METRICS_INTERVAL_MS: { schema: millis(5000), description: 'Metrics service: default snapshot interval per cluster.', example: '5000', usedBy: ['metrics'] },
  TASK_OUTCOMES_MAX_AGE_MS: {
    schema: millis(7 * 24 * 3_600_000),
    description:
      'How long the stream of task attempt outcomes (FLOTILLA_TASK_OUTCOMES) keeps each one: the metrics service accounts them from it (cost, tokens, lineage by blueprint version), so a metrics outage shorter than this loses none.',
    example: '604800000',
    usedBy: ['metrics'],
  },
  BUDGET_CHECK_INTERVAL_MS: {
    schema: millis(10_000),
    description: "Metrics service: how often the budget watch (one replica) compares each cluster's spend in the period with its blueprint's budgets, and reports the budgets reached.",
    example: '10000',
    usedBy: ['metrics'],
  },
  METRICS_RAW_RETENTION_MS: {
    schema: millis(24 * 3_600_000),
    description: 'Metrics service: raw snapshots older than this are rolled up into 1-minute rows.',
    example: '86400000',
    usedBy: ['metrics'],
  },
  METRICS_ROLLUP_RETENTION_MS: {
    schema: millis(30 * 24 * 3_600_000),
    description: 'Metrics service: 1-minute rollups older than this are deleted.',
    example: '2592000000',
    usedBy: ['metrics'],
  },
  READ_YOUR_WRITES_TIMEOUT_MS: {
    schema: millis(5000),
    description:
      "How long a command with ?wait=true waits for the read models to show it. The command is stored either way: when they lag, the answer is 202 Accepted with Flotilla-Read-Models: behind and Flotilla-Position (gRPC: read_models_behind), never an error.",
    example: '5000',
    usedBy: ['orchestrator'],
  },
  CLUSTER_SPAWN_TIMEOUT_MS: {
    schema: millis(120_000),
    description: 'A cluster still spawning after this long is marked degraded with the reason (which agents are not running, and why); it becomes active once they run.',
    example: '120000',
    usedBy: ['orchestrator'],
  },
  EVENT_ARCHIVE_AFTER: {
    schema: z
      .string()
      .default('0')
      .pipe(z.string().regex(/^(0|[1-9]\d*[smhd])$/, 'expected 0 (never) or a whole number of s, m, h or d, e.g. 30d'))
      .transform((v) => (v === '0' ? 0 : Number(v.slice(0, -1)) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[v.slice(-1) as 's' | 'm' | 'h' | 'd'])),
    description:
      "Retention: events older than this move from the event store's live log to its compressed archive (PostgreSQL only), checked every EVENT_ARCHIVE_INTERVAL_MS; reads, time travel, subscriptions and rebuilds still see them. 0: never.",
    example: '0',
    usedBy: ['orchestrator'],
  },
  EVENT_ARCHIVE_INTERVAL_MS: {
    schema: millis(60_000),
    description: 'How often the archiver (one orchestrator replica) moves events older than EVENT_ARCHIVE_AFTER to the archive.',
    example: '60000',
    usedBy: ['orchestrator'],
  },
  TASK_ACK_WAIT_MS: {
    schema: millis(30_000),
    description: 'How long a task may go without word from its agent before JetStream hands it to another (agents report every third of it while they work).',
    example: '30000',
    usedBy: ['orchestrator', 'node-agent'],
  },
  TASK_RETENTION_MS: {
    schema: millis(24 * 3_600_000),
    description: 'How long task records (state and result) are kept after their last change.',
    example: '86400000',
    usedBy: ['orchestrator', 'node-agent'],
  },
  TASK_MAX_RESULT_BYTES: {
    schema: z.coerce.number().int().min(1024).default(262_144),
    description:
      "Node agent: the largest task result (as JSON) a task may complete with; a larger one fails the task once, finally, with an error saying so (status failed, no retry), since the task record and the result announcement must each fit in one NATS message (NATS' max_payload, 1 MiB by default, also bounds it).",
    example: '262144',
    usedBy: ['node-agent'],
  },
  TASKS_STREAM_MAX_BYTES: {
    schema: z.coerce.number().int().min(4096).default(1_073_741_824),
    description:
      'The most bytes the task queues (JetStream stream FLOTILLA_TASKS, discard-new) hold; a submission that would go beyond is refused with 503 task_queue_full and Retry-After, never queued by dropping another task.',
    example: '1073741824',
    usedBy: ['orchestrator'],
  },
  TENANT_MAX_QUEUED_TASKS: {
    schema: z.coerce.number().int().positive().default(10_000),
    description:
      "Quota: tasks one tenant may have waiting or running at once, across its clusters (counted in FLOTILLA_TASKS at submission); beyond it a submission gets 429 tenant_queue_full, so one tenant cannot fill the queues for the others.",
    example: '10000',
    usedBy: ['orchestrator'],
  },
  AUTH_MODE: {
    schema: z.enum(['required', 'open']).default('required'),
    description:
      "Gateway: 'required' (every API call needs an API key or a JWT) or 'open' (local development only: callers without credentials act as an admin of tenant 'default'; logged loudly at start).",
    example: 'required',
    usedBy: ['gateway'],
  },
  FLOTILLA_BOOTSTRAP_ADMIN_KEY: {
    schema: optionalString().pipe(z.string().min(24, 'at least 24 characters').optional()),
    description:
      'Gateway: a secret that authenticates as an admin of every tenant, to create the first API keys (npm start generates one; elsewhere e.g. `openssl rand -base64 32`). With NODE_ENV=production, placeholders (change-me, replace-me, ...) and low-entropy values are refused.',
    example: '',
    usedBy: ['gateway', 'cli'],
  },
  AUTH_JWT_SECRET: {
    schema: optionalString().pipe(z.string().min(32, 'at least 32 characters (HS256)').optional()),
    description:
      'Gateway: HS256 secret for JWT bearer tokens (claims: sub, tenant, role, iat, exp). With NODE_ENV=production, placeholders and low-entropy values are refused.',
    example: '',
    usedBy: ['gateway'],
  },
  AUTH_JWT_PUBLIC_KEY: {
    schema: optionalString(),
    description: 'Gateway: RS256 public key (PEM) for JWT bearer tokens.',
    example: '',
    usedBy: ['gateway'],
  },
  AUTH_JWT_ISSUER: {
    schema: optionalString(),
    description: 'Gateway: required JWT issuer (iss), when set; with NODE_ENV=production it must be set whenever JWTs are enabled.',
    example: '',
    usedBy: ['gateway'],
  },
  AUTH_JWT_AUDIENCE: {
    schema: optionalString(),
    description: 'Gateway: required JWT audience (aud), when set; with NODE_ENV=production it must be set whenever JWTs are enabled.',
    example: '',
    usedBy: ['gateway'],
  },
  AUTH_JWT_CLOCK_SKEW_S: {
    schema: z.coerce.number().int().min(0).max(300).default(30),
    description: 'Gateway: clock skew tolerated on JWT exp/nbf.',
    example: '30',
    usedBy: ['gateway'],
  },
  AUTH_JWT_MAX_AGE_S: {
    schema: z.coerce.number().int().min(1).max(30 * 86_400).default(3600),
    description: 'Gateway: the oldest JWT accepted, in seconds: tokens without iat, issued longer ago than this, or whose exp is more than this after their iat are refused.',
    example: '3600',
    usedBy: ['gateway'],
  },
  RATE_LIMIT_RPS: {
    schema: z.coerce.number().positive().default(100),
    description: 'Gateway: sustained requests per second per API key or token (429 with Retry-After beyond).',
    example: '100',
    usedBy: ['gateway'],
  },
  RATE_LIMIT_BURST: { schema: z.coerce.number().int().positive().default(200), description: 'Gateway: burst above RATE_LIMIT_RPS per key.', example: '200', usedBy: ['gateway'] },
  AUTH_FAILURE_LIMIT: {
    schema: z.coerce.number().int().positive().default(20),
    description:
      'Gateway: failed authentications allowed per source address, and per API key id, within AUTH_FAILURE_WINDOW_S (refilled evenly); beyond, attempts with credentials it has not verified lately get 429 with Retry-After and cost no verification.',
    example: '20',
    usedBy: ['gateway'],
  },
  AUTH_FAILURE_WINDOW_S: {
    schema: z.coerce.number().int().positive().default(60),
    description: 'Gateway: the window of AUTH_FAILURE_LIMIT, and how long a credential that failed is refused again without asking the orchestrator (a negative cache).',
    example: '60',
    usedBy: ['gateway'],
  },
  EVENT_WATCHERS_MAX: {
    schema: z.coerce.number().int().positive().default(1000),
    description: 'Gateway: open event watchers (SSE /api/events/stream and gRPC WatchEvents) per gateway replica; beyond, 429 / RESOURCE_EXHAUSTED with Retry-After.',
    example: '1000',
    usedBy: ['gateway'],
  },
  EVENT_WATCHERS_PER_CALLER: {
    schema: z.coerce.number().int().positive().default(10),
    description: 'Gateway: open event watchers per caller (API key or token subject) per gateway replica; beyond, 429 / RESOURCE_EXHAUSTED with Retry-After.',
    example: '10',
    usedBy: ['gateway'],
  },
  HTTP_BODY_LIMIT_BYTES: { schema: z.coerce.number().int().positive().default(1_048_576), description: 'Gateway: largest request body (413 beyond).', example: '1048576', usedBy: ['gateway'] },
  JSON_MAX_DEPTH: { schema: z.coerce.number().int().min(2).max(1000).default(64), description: 'Gateway: deepest JSON nesting accepted (400 beyond).', example: '64', usedBy: ['gateway'] },
  TENANT_MAX_CLUSTERS: { schema: z.coerce.number().int().positive().default(100), description: 'Quota: clusters per tenant.', example: '100', usedBy: ['orchestrator'] },
  TENANT_MAX_AGENTS: { schema: z.coerce.number().int().positive().default(2000), description: 'Quota: live agents per tenant, across its clusters.', example: '2000', usedBy: ['orchestrator'] },
  TENANT_MAX_TASKS_PER_SECOND: {
    schema: z.coerce.number().positive().default(500),
    description: 'Quota: task submissions per second per tenant (per orchestrator replica).',
    example: '500',
    usedBy: ['orchestrator'],
  },
  GATEWAY_URL: { schema: url('http://127.0.0.1:8080', /^https?$/), description: 'CLI: the gateway to talk to.', example: 'http://127.0.0.1:8080', usedBy: ['cli'] },
  FLOTILLA_DATA_DIR: { schema: z.string().default('.flotilla'), description: 'Local state (node ids, the runner\'s NATS and PostgreSQL data).', example: '.flotilla', usedBy: ['node-agent', 'runner'] },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof variables;
