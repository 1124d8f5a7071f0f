import os from 'node:os';
import type { Config } from '@flotilla/config';
import type { RouteRequest, registryRoutes } from '@flotilla/contracts';
import { ValidationError } from '@flotilla/domain';

export type RegisterNodeRequest = RouteRequest<typeof registryRoutes.registerNode>;

/** `k=v` pairs (NODE_LABELS) as a map; a pair without `=` or with an empty key is an error naming it. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const issues: { path: string; message: string }[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (!key) {
      issues.push({
        path: 'NODE_LABELS',
        message: `expected key=value, got ${JSON.stringify(pair)}`,
      });
      continue;
    }
    labels[key] = pair.slice(eq + 1).trim();
  }
  if (issues.length > 0) throw ValidationError.of(issues, 'node labels');
  return labels;
}

/** The first non-internal IPv4 address, else the host name. */
export function defaultAddress(
  interfaces: ReturnType<typeof os.networkInterfaces> = os.networkInterfaces(),
  hostname = os.hostname(),
): string {
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return hostname;
}

export interface HostFacts {
  readonly hostname: string;
  readonly cores: number;
  readonly memoryMb: number;
  readonly address: string;
}

export function hostFacts(): HostFacts {
  return {
    hostname: os.hostname(),
    cores: os.availableParallelism(),
    memoryMb: Math.floor(os.totalmem() / (1024 * 1024)),
    address: defaultAddress(),
  };
}

/** What this node registers as: NODE_* settings, the host's own figures where they are unset. */
export function registration(
  nodeId: string,
  config: Config,
  host: HostFacts = hostFacts(),
): RegisterNodeRequest {
  return {
    node_id: nodeId,
    hostname: host.hostname,
    address: config.NODE_ADDRESS ?? host.address,
    region: config.NODE_REGION,
    zone: config.NODE_ZONE,
    labels: parseLabels(config.NODE_LABELS),
    services: [...config.NODE_SERVICES],
    capacity: {
      cpu: config.NODE_CPU ?? host.cores,
      memory_mb: config.NODE_MEMORY_MB ?? host.memoryMb,
      max_agents: config.NODE_MAX_AGENTS,
    },
    role: config.NODE_ROLE,
    priority: config.NODE_PRIORITY,
  };
}
