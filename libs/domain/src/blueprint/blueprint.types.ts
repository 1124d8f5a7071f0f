import type { AgentRole, BudgetAction, BuiltinHandler, ClusterType, Environment, PlacementStrategy, RuntimeKind } from './blueprint.schema.js';

/**
 * A blueprint after resolution: every default filled in, one environment's overlay applied,
 * absent optional values as `null` (never `undefined`), so it is plain JSON and can travel inside
 * events (a cluster keeps the snapshot it was created from).
 */
export interface Resources {
  readonly cpu: number;
  readonly memoryMb: number;
}

export interface ResolvedPlacement {
  /** null: the registry's current default strategy (switchable at run time with POST /api/cluster/balance). */
  readonly strategy: PlacementStrategy | null;
  readonly requiredServices: readonly string[];
  readonly requiredLabels: Readonly<Record<string, string>>;
  readonly zoneSpread: boolean;
  readonly maxPerZone: number | null;
  readonly antiAffinity: boolean;
}

/** The autoscaler's policy (seed 000's rule is the default). */
export interface ScalingPolicy {
  readonly enabled: boolean;
  readonly queuePerWorkerUp: number;
  readonly queuePerWorkerDown: number;
  readonly cpuUp: number;
  readonly cpuDown: number;
  readonly stepPercent: number;
  readonly cooldownUpSeconds: number;
  readonly cooldownDownSeconds: number;
  readonly stabilizationSeconds: number;
  readonly evaluationIntervalSeconds: number;
  readonly hibernateWhenIdleSeconds: number | null;
  readonly wakeOnTask: boolean;
}

export interface CircuitBreakerConfig {
  readonly enabled: boolean;
  readonly failureThreshold: number;
  readonly openSeconds: number;
  readonly halfOpenProbes: number;
}

export interface ResolvedCluster {
  readonly type: ClusterType;
  readonly minWorkers: number;
  readonly targetWorkers: number;
  readonly maxWorkers: number;
  readonly resources: Resources;
  readonly placement: ResolvedPlacement;
  readonly scaling: ScalingPolicy;
  readonly monitoring: { readonly intervalSeconds: number };
  readonly circuitBreaker: CircuitBreakerConfig;
  readonly backupCluster: string | null;
  readonly hibernation: { readonly keepFixedAgents: boolean };
  /** Absent when the blueprint prices nothing (so the resolution of an unpriced blueprint hashes as before). */
  readonly pricing?: ResolvedPricing;
  /** Absent when the blueprint sets none. */
  readonly budgets?: readonly ResolvedBudget[];
}

export interface ResolvedBudget {
  readonly amount: number;
  readonly period: 'day' | 'month';
  readonly action: BudgetAction;
}

export interface ModelPrice {
  readonly inputPer1k: number;
  readonly outputPer1k: number;
}

export interface ResolvedPricing {
  readonly currency: string;
  readonly agentHour: {
    readonly default: number;
    readonly roles: Readonly<Partial<Record<AgentRole, number>>>;
    readonly runtimes: Readonly<Partial<Record<RuntimeKind, number>>>;
  };
  readonly models: Readonly<Record<string, ModelPrice>>;
}

export type ResolvedRuntime =
  | { readonly kind: 'builtin'; readonly handler: BuiltinHandler; readonly delayMs: number; readonly failureRate: number }
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly method: 'POST' | 'PUT';
      readonly timeoutMs: number;
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'openai';
      readonly baseUrl: string;
      readonly model: string;
      readonly systemPrompt: string | null;
      readonly apiKeyEnv: string | null;
      readonly temperature: number | null;
      readonly maxTokens: number | null;
      readonly timeoutMs: number;
    };

export interface ResolvedAgent {
  readonly name: string;
  readonly role: AgentRole;
  readonly description: string;
  /** Instances of a fixed agent (supervisor, lead, specialist); 0 for workers (the pool decides). */
  readonly count: number;
  /** A worker kind's share of the pool; 0 for fixed agents. */
  readonly weight: number;
  readonly capabilities: readonly string[];
  readonly runtime: ResolvedRuntime;
  /** Name of the agent this one reports to; null for the supervisor. */
  readonly reportsTo: string | null;
  readonly resources: Resources;
  /** SHA-256 of the agent's canonical resolved spec: its lineage. Equal specs hash equal. */
  readonly specHash: string;
}

export interface ResolvedBlueprint {
  readonly apiVersion: 'flotilla/v1';
  readonly blueprintId: string;
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly tags: readonly string[];
  /** The overlay applied, or 'base' when none was. */
  readonly environment: Environment | 'base';
  readonly cluster: ResolvedCluster;
  readonly agents: readonly ResolvedAgent[];
  /** Hash of the blueprint document as registered (same as BlueprintRegistered.hash). */
  readonly hash: string;
  /** Hash of this resolution (document + environment + library defaults). */
  readonly resolvedHash: string;
}

export const DEFAULT_RESOURCES: Resources = { cpu: 0.5, memoryMb: 512 };

export const DEFAULT_PLACEMENT: ResolvedPlacement = {
  strategy: null,
  requiredServices: [],
  requiredLabels: {},
  zoneSpread: false,
  maxPerZone: null,
  antiAffinity: false,
};

/** Seed 000: queue per worker > 10 → +20 %, < 2 → −20 %, CPU 80/30, 5-minute cooldowns. */
export const DEFAULT_SCALING_POLICY: ScalingPolicy = {
  enabled: true,
  queuePerWorkerUp: 10,
  queuePerWorkerDown: 2,
  cpuUp: 80,
  cpuDown: 30,
  stepPercent: 20,
  cooldownUpSeconds: 300,
  cooldownDownSeconds: 300,
  stabilizationSeconds: 300,
  evaluationIntervalSeconds: 60,
  hibernateWhenIdleSeconds: null,
  wakeOnTask: true,
};

/** Seed 004: five consecutive failures open the breaker. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerConfig = {
  enabled: true,
  failureThreshold: 5,
  openSeconds: 30,
  halfOpenProbes: 1,
};

export const DEFAULT_MONITORING = { intervalSeconds: 5 } as const;
export const DEFAULT_HIBERNATION = { keepFixedAgents: true } as const;
export const DEFAULT_BUILTIN_DELAY_MS: Readonly<Record<BuiltinHandler, number>> = { echo: 0, sleep: 100, 'cpu-burn': 50, fail: 0 };
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
export const DEFAULT_OPENAI_TIMEOUT_MS = 60_000;
