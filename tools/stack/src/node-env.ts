// What a node agent started by the runner is given: what it reads (NATS, its own settings), the
// AGENT_SECRET_* values its agents may use, and nothing else. The runner's own environment holds
// the bootstrap admin key and the database URL; a node agent runs tenants' code and gets neither.
import { nodeAgentEnvironment } from '@flotilla/config';

/**
 * The capacity each simulated local node advertises unless NODE_CPU / NODE_MEMORY_MB say
 * otherwise: enough for every example blueprint at its own maxWorkers on one node (checked by
 * first-run.spec.ts), since they share this host and reserve nothing real.
 */
export const LOCAL_NODE_CAPACITY = { cpu: 16, memoryMb: 32_768, maxAgents: 50 } as const;

/** `host:port` of a URL, or undefined when it has none (or does not parse). */
function hostPort(url: string | undefined, defaultPort: number): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (!u.hostname) return undefined;
    const host = u.hostname.startsWith('[') ? u.hostname : u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname;
    return `${host}:${u.port || defaultPort}`;
  } catch {
    return undefined;
  }
}

/**
 * The environment of one node agent: `own` (its id, zone, port, NATS user) over the runner's,
 * filtered to what a node agent reads, with the runner's PostgreSQL, EventStoreDB and gateway
 * added to AGENT_EGRESS_DENY so its agents cannot reach them even where a loopback port is allowed.
 */
export function nodeAgentProcessEnv(runner: NodeJS.ProcessEnv, own: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const gatewayHost = !runner['HTTP_HOST'] || runner['HTTP_HOST'] === '0.0.0.0' ? '127.0.0.1' : runner['HTTP_HOST'];
  const deny = [
    runner['AGENT_EGRESS_DENY'],
    hostPort(runner['DATABASE_URL'], 5432),
    hostPort(runner['EVENTSTORE_URL'], 2113),
    hostPort(`http://${gatewayHost}:${runner['GATEWAY_HTTP_PORT'] ?? 8080}`, 8080),
    hostPort(`http://${gatewayHost}:${runner['GATEWAY_GRPC_PORT'] ?? 50051}`, 50051),
  ].filter((x): x is string => Boolean(x));
  return nodeAgentEnvironment({ ...runner, ...own, AGENT_EGRESS_DENY: deny.join(',') });
}
