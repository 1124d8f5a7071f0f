import type { ServiceName } from '@flotilla/contracts';

export const CONFIG = Symbol('flotilla.config');
export const LOGGER = Symbol('flotilla.logger');
export const SERVICE_INFO = Symbol('flotilla.service-info');
export const METRICS_REGISTRY = Symbol('flotilla.metrics-registry');
export const PG_POOL = Symbol('flotilla.pg-pool');

export interface ServiceInfo {
  readonly service: ServiceName;
  readonly instanceId: string;
  readonly version: string;
  readonly startedAt: number;
}
