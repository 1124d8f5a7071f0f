import client from 'prom-client';

export type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per process, with default Node metrics and the service labels.
 * Services add their own counters and histograms to it; `/metrics` serves `registry.metrics()`.
 */
export function createMetricsRegistry(service: string, instanceId: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service, instance: instanceId });
  client.collectDefaultMetrics({ register: registry, prefix: 'flotilla_process_' });
  return registry;
}

export const promClient = client;

export const PROMETHEUS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;
