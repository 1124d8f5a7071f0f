import type { FlotillaError, JsonValue } from '@flotilla/domain';
import type { AgentSpec } from '@flotilla/domain';

/** One unit of work for an agent. */
export interface AgentTask {
  readonly taskId: string;
  readonly clusterId: string;
  /** The capability the task asks for; null when any worker may take it. */
  readonly capability: string | null;
  readonly input: JsonValue;
  /** Upper bound on one attempt; null leaves it to the runtime's own timeout. */
  readonly timeoutMs: number | null;
  /** 1 for the first delivery, then 2, 3, ... on redelivery. */
  readonly attempt: number;
}

/** A delivered task with its acknowledgement handles (a JetStream message, typically). */
export interface TaskDelivery {
  readonly task: AgentTask;
  /** Extends the ack deadline while a long task runs (JetStream's "working" / +WPI). */
  working(): Promise<void> | void;
  /** Done: the result is the task's outcome. */
  ack(result: JsonValue): Promise<void> | void;
  /** Failed (or abandoned at shutdown): redeliver after `delayMs`, to this agent or another. */
  nak(delayMs: number, error: FlotillaError): Promise<void> | void;
}

/** Who is asking for work: the running agent's identity and what it can do. */
export interface RunningAgentInfo {
  readonly agentId: string;
  readonly clusterId: string;
  readonly spec: AgentSpec;
}

/**
 * Where running agents pull their tasks from. The node agent runs agents with or without one:
 * the task queues (a JetStream work queue per cluster, by priority and capability) plug in here
 * through the TASK_SOURCE provider, and agents pull at most as many tasks as their free slots.
 */
export interface TaskSource {
  /**
   * Resolves when there may be work for this agent (at once while it keeps finding some), or when
   * `signal` aborts. Agents wait here without holding any of the node's task slots, so an idle
   * agent never keeps a busy one from taking work.
   */
  waitForWork?(agent: RunningAgentInfo, signal: AbortSignal): Promise<void>;
  /**
   * Up to `max` deliveries for this agent, without waiting for work to arrive (possibly none),
   * and at once when `signal` aborts, so the caller can stop pulling promptly.
   */
  pull(agent: RunningAgentInfo, max: number, signal: AbortSignal): Promise<readonly TaskDelivery[]>;
  /** The agent stopped: drop whatever the source kept for it. */
  forget?(agentId: string): void;
}

export const TASK_SOURCE = Symbol('node-agent.task-source');
