import { CONTROL_PLANE_SECRETS, NODE_AGENT_VARIABLES } from './node-agent-env.js';
import { type VariableName, variables } from './variables.js';

/** The text of `.env.example`: every variable, its meaning and its local default. */
export function renderEnvExample(): string {
  const lines = [
    '# Every environment variable Flotilla reads (generated from libs/config/src/variables.ts:',
    '# `npm run env:example` rewrites this file; a test fails when it drifts).',
    '# Empty values mean "use the default", which is what a local run needs.',
    '',
  ];
  for (const [name, spec] of Object.entries(variables)) {
    lines.push(`# ${spec.description} (used by: ${spec.usedBy.join(', ')})`);
    lines.push(`${name}=${spec.example}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The README's configuration table, as Markdown rows. */
export function renderConfigTable(): string {
  const rows = Object.entries(variables).map(
    ([name, spec]) =>
      `| \`${name}\` | ${spec.example ? `\`${spec.example}\`` : '—'} | ${spec.usedBy.join(', ')} | ${spec.description} |`,
  );
  return ['| variable | default | used by | meaning |', '| --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

/**
 * Settings that carry credentials. In docker-compose they come from the shell or `.env` (see the
 * gateway's `environment`); in Kubernetes from the Secret `flotilla-secrets`, never a ConfigMap.
 */
export const SECRET_VARIABLES: readonly VariableName[] = [
  'DATABASE_URL',
  'EVENTSTORE_URL',
  'NATS_USER',
  'NATS_PASSWORD',
  'FLOTILLA_BOOTSTRAP_ADMIN_KEY',
  'AUTH_JWT_SECRET',
];

/**
 * Values for the docker-compose stack (service names as hosts, listeners on every interface,
 * EventStoreDB as the event store, traces to Jaeger). Every other variable gets its example value.
 */
export const COMPOSE_VALUES: Readonly<Partial<Record<VariableName, string>>> = {
  NODE_ENV: 'production',
  HTTP_HOST: '0.0.0.0',
  NATS_URL: 'nats://nats:4222',
  DATABASE_URL: 'postgres://flotilla:flotilla@postgres:5432/flotilla',
  EVENT_STORE: 'eventstoredb',
  EVENTSTORE_URL: 'esdb://eventstoredb:2113?tls=false',
  OTEL_ENABLED: 'true',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
  FLOTILLA_DATA_DIR: '/var/lib/flotilla',
  GATEWAY_URL: 'http://gateway:8080',
  // Agents may not reach the control plane's containers (NATS is always denied).
  AGENT_EGRESS_DENY: 'postgres,eventstoredb,gateway,orchestrator,registry,autoscaler,metrics,jaeger,prometheus,grafana',
};

/**
 * Values for Kubernetes (deploy/k8s/base): the NATS StatefulSet's client Service, EventStoreDB as
 * the event store. Secret variables are left out: they live in the Secret `flotilla-secrets`.
 */
export const KUBERNETES_VALUES: Readonly<Partial<Record<VariableName, string>>> = {
  NODE_ENV: 'production',
  HTTP_HOST: '0.0.0.0',
  NATS_URL: 'nats://nats:4222',
  EVENT_STORE: 'eventstoredb',
  OTEL_ENABLED: 'false',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
  FLOTILLA_DATA_DIR: '/var/lib/flotilla',
  GATEWAY_URL: 'http://gateway:8080',
  // Agents may not reach the services, the API server, nor anything on the cluster's private
  // networks (pods, services, a managed PostgreSQL in the VPC); AGENT_EGRESS_ALLOW opens a port.
  AGENT_EGRESS_DENY:
    'gateway,orchestrator,registry,autoscaler,metrics,nats,kubernetes.default.svc,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7',
};

function renderEnvFile(
  header: readonly string[],
  values: Readonly<Partial<Record<VariableName, string>>>,
  skip: readonly VariableName[] = [],
  only?: readonly VariableName[],
): string {
  const lines = [...header, ''];
  for (const [name, spec] of Object.entries(variables) as [
    VariableName,
    (typeof variables)[VariableName],
  ][]) {
    if (skip.includes(name) || (only && !only.includes(name))) continue;
    lines.push(`# ${spec.description} (used by: ${spec.usedBy.join(', ')})`);
    lines.push(`${name}=${values[name] ?? spec.example}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The text of `deploy/compose.env`: every variable, with values for the compose stack. */
export function renderComposeEnv(): string {
  return renderEnvFile(
    [
      '# Settings of every Flotilla control-plane container in docker-compose.yml (node agents read',
      '# deploy/node-agent.env instead): every variable of libs/config/src/variables.ts (generated:',
      '# `npm run env:example` rewrites this file and a test fails when it drifts). Per-service values',
      "# (ports, node ids, zones) are in each service's `environment`, secrets come from the shell or",
      '# `.env`. Empty means the default.',
    ],
    COMPOSE_VALUES,
  );
}

/** The text of `deploy/k8s/base/config.env` (the ConfigMap `flotilla-config`): every variable but the secrets. */
export function renderKubernetesEnv(): string {
  return renderEnvFile(
    [
      '# The ConfigMap flotilla-config (kustomize configMapGenerator): every variable of',
      '# libs/config/src/variables.ts except the secrets (generated: `npm run env:example` rewrites',
      '# this file and a test fails when it drifts). Overlays change values with `behavior: merge`.',
      `# In the Secret flotilla-secrets instead: ${SECRET_VARIABLES.join(', ')}.`,
      '# Empty means the default.',
    ],
    KUBERNETES_VALUES,
    SECRET_VARIABLES,
  );
}

/**
 * The text of `deploy/node-agent.env`: what a node agent container reads, and nothing else. Node
 * agents run tenants' agents, so they get no control-plane secret (no database URL, bootstrap
 * key or JWT secret); their NATS user and password come from their `environment`, and the
 * AGENT_SECRET_* values their agents may use from the shell or `.env`.
 */
export function renderComposeNodeAgentEnv(): string {
  return renderEnvFile(
    [
      '# Settings of the node agent containers in docker-compose.yml: the variables of',
      '# libs/config/src/variables.ts that a node agent reads (generated: `npm run env:example`',
      '# rewrites this file and a test fails when it drifts). No control-plane secret is here or may',
      `# be added (${CONTROL_PLANE_SECRETS.join(', ')}): node agents run tenants' code.`,
      '# Empty means the default.',
    ],
    COMPOSE_VALUES,
    CONTROL_PLANE_SECRETS,
    NODE_AGENT_VARIABLES,
  );
}
