import { randomInt } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { CommandContext } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import type { PlaceReply, PlaceRequest, PlacementAgent } from '@flotilla/contracts';
import type { EventStore } from '@flotilla/eventstore';
import {
  ConcurrencyError,
  NotFoundError,
  RuleViolationError,
  ValidationError,
  type AgentPricing,
  type AgentSpec,
  type PlacementStrategy,
} from '@flotilla/domain';
import { CONFIG, LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { KeyedChain, Semaphore } from '../infrastructure/concurrency.js';
import { EVENT_STORE } from '../infrastructure/tokens.js';
import { nowIso } from '../infrastructure/request-context.js';
import { DIRECTORY_CATEGORIES, DirectoryFeed } from '../nodes/directory-feed.js';
import { NodeCommands } from '../nodes/node-commands.service.js';
import { NodeDirectory } from '../nodes/node-directory.js';
import {
  groupKey,
  decideGroup,
  planGroup,
  type NewPlacement,
  type PlannerState,
  type RequestPlan,
} from './placement-planner.js';

type Outcome =
  | { readonly nodeId: string }
  | { readonly retry: true; readonly reason: string }
  | { readonly reason: string };

interface Pending {
  readonly req: PlaceRequest;
  readonly ctx: CommandContext;
  readonly attempt: number;
  readonly resolve: (reply: PlaceReply) => void;
  readonly reject: (err: unknown) => void;
}

/** A placement the decider refused because this replica's view was behind is planned again, this many times. */
const MAX_ATTEMPTS = 3;
/** Appends in flight at once (across node streams); each takes a pooled PostgreSQL connection. */
const WRITE_CONCURRENCY = 16;
const RETRYABLE_RULES = new Set([
  'node_capacity_exceeded',
  'node_not_schedulable',
  'node_deregistered',
]);

/**
 * Placement over request/reply. Requests queue up; a planning pass takes everything queued, groups
 * requests that can share one `place()` call, and plans each group synchronously against the
 * live directory, reserving capacity as it decides (see planGroup). Recording happens after the
 * decision, off the critical section: one PlaceAgent per agent through the command handler,
 * one at a time per node stream, a bounded number at once overall. A request is answered once
 * all its placements are recorded.
 */
@Injectable()
export class PlacementService {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly planner: PlannerState = { cursor: null, seed: randomInt(2 ** 31) };
  private readonly chain = new KeyedChain();
  private readonly writes = new Semaphore(WRITE_CONCURRENCY);
  /** Placements being recorded, by agent id: a repeat of the request waits for the first one. */
  private readonly inflight = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly nodes: NodeCommands,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async place(req: PlaceRequest, ctx: CommandContext): Promise<PlaceReply> {
    await this.caughtUp();
    return this.enqueue(req, ctx, 1);
  }

  /**
   * Decide on a view that holds every node change committed before this request (a node
   * registered or cordoned through another replica a moment ago, and even while an older
   * transaction elsewhere holds readers back): one read of the log's head.
   */
  private async caughtUp(): Promise<void> {
    await this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
    await this.feed.caughtUpTo(await this.store.headPosition({ committed: true, categories: DIRECTORY_CATEGORIES }), this.config.REQUEST_TIMEOUT_MS);
  }

  /**
   * Where `place(req)` would put the agents now: decided on the same caught-up view, with the same
   * constraints, strategy, cursor and seed, and nothing reserved or recorded. The dry runs of
   * cluster commands show this as their plan.
   */
  async preview(req: PlaceRequest): Promise<PlaceReply> {
    await this.caughtUp();
    const strategy = req.strategy ?? this.directory.settings.strategy;
    const plan = decideGroup([req], strategy, this.directory, this.planner).plans[0]!;
    return {
      assignments: [
        ...plan.held.map((h) => ({ agent_id: h.agentId, node_id: h.nodeId, previous_node_id: h.previous })),
        ...plan.placed.map((p) => ({ agent_id: p.agent.agent_id, node_id: p.nodeId, previous_node_id: p.previous })),
      ],
      unplaced: plan.unplaced,
      strategy,
    };
  }

  /** Releases agents (every node holding them, or one node); waits for their placements in flight. */
  async release(
    clusterId: string,
    agentIds: readonly string[],
    nodeId: string | undefined,
    reason: string,
    ctx: CommandContext,
  ): Promise<string[]> {
    await this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
    const released = new Set<string>();
    await Promise.all(
      [...new Set(agentIds)].map(async (agentId) => {
        await this.inflight.get(agentId)?.catch(() => undefined);
        const holders = this.directory
          .assignedNodesOf(agentId)
          .filter(
            (n) =>
              (nodeId === undefined || n === nodeId) &&
              this.directory.get(n)?.state.assignments[agentId]?.clusterId === clusterId,
          );
        for (const holder of holders) {
          const result = await this.chain.run(holder, () =>
            this.writes.run(() =>
              this.nodes.execute(
                holder,
                { type: 'ReleaseAgent', data: { agentId, reason }, metadata: { now: nowIso() } },
                ctx,
              ),
            ),
          );
          if (result.events.length > 0) released.add(agentId);
        }
      }),
    );
    return agentIds.filter((a) => released.has(a));
  }

  private enqueue(req: PlaceRequest, ctx: CommandContext, attempt: number): Promise<PlaceReply> {
    return new Promise<PlaceReply>((resolve, reject) => {
      this.queue.push({ req, ctx, attempt, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Requests that arrive in the same burst are planned together in the next pass.
        setImmediate(() => this.planQueued());
      }
    });
  }

  private planQueued(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const groups = new Map<
      string,
      { strategy: PlacementStrategy; members: Pending[]; agents: Set<string> }
    >();
    for (const pending of batch) {
      const strategy = pending.req.strategy ?? this.directory.settings.strategy;
      const key = groupKey(pending.req, strategy);
      const group = groups.get(key) ?? { strategy, members: [], agents: new Set<string>() };
      // The same agent twice in one group would be placed twice: the repeat waits for the next
      // pass, where it finds the first one's reservation and waits for its outcome.
      if (pending.req.agents.some((a) => group.agents.has(a.agent_id))) {
        this.queue.push(pending);
        continue;
      }
      for (const a of pending.req.agents) group.agents.add(a.agent_id);
      group.members.push(pending);
      groups.set(key, group);
    }
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.planQueued());
    }
    for (const { strategy, members } of groups.values()) this.planAndRecord(members, strategy);
  }

  private planAndRecord(members: readonly Pending[], strategy: PlacementStrategy): void {
    let plans: RequestPlan[];
    try {
      plans = planGroup(
        members.map((m) => m.req),
        strategy,
        this.directory,
        this.planner,
      );
    } catch (err) {
      if (members.length > 1) {
        // One request's input broke the shared call: plan each alone so only that one fails.
        for (const m of members) this.planAndRecord([m], strategy);
      } else {
        members[0]!.reject(err);
      }
      return;
    }
    members.forEach((m, i) => {
      const plan = plans[i]!;
      // Register every outcome before anything awaits, so a concurrent release or repeat sees it.
      const recording = plan.placed.map((p) => this.track(p, m.req, m.ctx));
      this.finish(m, plan, recording).then(m.resolve, m.reject);
    });
  }

  private track(p: NewPlacement, req: PlaceRequest, ctx: CommandContext): Promise<Outcome> {
    const agentId = p.agent.agent_id;
    const outcome = this.record(p, req, ctx);
    this.inflight.set(agentId, outcome);
    void outcome.finally(() => {
      if (this.inflight.get(agentId) === outcome) this.inflight.delete(agentId);
    });
    return outcome;
  }

  /** Records one placement (PlaceAgent → AgentAssigned), then releases the move source if asked. */
  private async record(p: NewPlacement, req: PlaceRequest, ctx: CommandContext): Promise<Outcome> {
    const agentId = p.agent.agent_id;
    try {
      await this.chain.run(p.nodeId, () =>
        this.writes.run(() =>
          this.nodes.execute(
            p.nodeId,
            {
              type: 'PlaceAgent',
              data: {
                agentId,
                clusterId: req.cluster_id,
                // The assignment is the cluster's tenant's event, not the caller's (the reconciler), and
                // the node agent applies that tenant's egress allow-list to the agent.
                tenantId: req.tenant_id,
                resources: { cpu: p.agent.resources.cpu, memoryMb: p.agent.resources.memory_mb },
                agent: {
                  name: p.agent.name,
                  role: p.agent.role,
                  capabilities: [...p.agent.capabilities],
                  // Resolved from a validated blueprint by the orchestrator; the decider checks its shape.
                  runtime: p.agent.runtime as unknown as AgentSpec['runtime'],
                  ...(p.agent.spec_hash && p.agent.blueprint_version ? { lineage: { specHash: p.agent.spec_hash, blueprintVersion: p.agent.blueprint_version } } : {}),
                  ...(p.agent.pricing ? { pricing: agentPricingOf(p.agent.pricing) } : {}),
                },
              },
              metadata: { now: nowIso() },
            },
            ctx,
          ),
        ),
      );
    } catch (err) {
      return this.refused(p, err);
    } finally {
      // Recorded (the state now counts it) or refused: either way the reservation is done.
      this.directory.unreserve(p.nodeId, agentId);
    }
    if (p.releaseFrom) await this.releaseSource(agentId, p.releaseFrom, p.nodeId, ctx);
    return { nodeId: p.nodeId };
  }

  private refused(p: NewPlacement, err: unknown): Outcome {
    const retry =
      (err instanceof RuleViolationError && RETRYABLE_RULES.has(err.rule)) ||
      err instanceof ConcurrencyError ||
      err instanceof NotFoundError;
    if (retry) {
      this.logger.debug(
        { agentId: p.agent.agent_id, nodeId: p.nodeId, err },
        'placement refused by the node; planning it again',
      );
      return { retry: true, reason: (err as Error).message };
    }
    if (!(err instanceof RuleViolationError || err instanceof ValidationError)) {
      this.logger.warn(
        { agentId: p.agent.agent_id, nodeId: p.nodeId, err },
        'placement could not be recorded',
      );
    }
    return {
      reason:
        err instanceof RuleViolationError ? `${err.rule}: ${err.message}` : (err as Error).message,
    };
  }

  private async releaseSource(
    agentId: string,
    from: string,
    to: string,
    ctx: CommandContext,
  ): Promise<void> {
    try {
      await this.chain.run(from, () =>
        this.writes.run(() =>
          this.nodes.execute(
            from,
            {
              type: 'ReleaseAgent',
              data: { agentId, reason: `moved to ${to}` },
              metadata: { now: nowIso() },
            },
            ctx,
          ),
        ),
      );
    } catch (err) {
      // The reservation reaper frees it later (the cluster no longer places the agent there).
      this.logger.warn({ err, agentId, from, to }, 'could not release the source of a move');
    }
  }

  private async finish(
    m: Pending,
    plan: RequestPlan,
    recording: Promise<Outcome>[],
  ): Promise<PlaceReply> {
    const reply: PlaceReply = {
      assignments: [],
      unplaced: [...plan.unplaced],
      strategy: plan.strategy,
    };
    const retry: PlaceRequest['agents'] = [];

    for (const held of plan.held) {
      if (this.directory.get(held.nodeId)?.state.assignments[held.agentId]) {
        reply.assignments.push({
          agent_id: held.agentId,
          node_id: held.nodeId,
          previous_node_id: held.previous,
        });
        if (held.releaseFrom)
          await this.releaseSource(held.agentId, held.releaseFrom, held.nodeId, m.ctx);
        continue;
      }
      // Held by a reservation only: another request is recording it right now.
      const outcome =
        (await this.inflight.get(held.agentId)?.catch(() => undefined)) ??
        this.currentOutcome(held.agentId);
      if ('nodeId' in outcome)
        reply.assignments.push({
          agent_id: held.agentId,
          node_id: outcome.nodeId,
          previous_node_id: held.previous,
        });
      else reply.unplaced.push({ agent_id: held.agentId, reason: outcome.reason });
    }

    const outcomes = await Promise.all(recording);
    plan.placed.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if ('nodeId' in outcome)
        reply.assignments.push({
          agent_id: p.agent.agent_id,
          node_id: outcome.nodeId,
          previous_node_id: p.previous,
        });
      else if ('retry' in outcome && m.attempt < MAX_ATTEMPTS) retry.push(p.agent);
      else reply.unplaced.push({ agent_id: p.agent.agent_id, reason: outcome.reason });
    });

    if (retry.length > 0) {
      const again = await this.enqueue({ ...m.req, agents: retry }, m.ctx, m.attempt + 1);
      reply.assignments.push(...again.assignments);
      reply.unplaced.push(...again.unplaced);
    }
    return reply;
  }

  private currentOutcome(agentId: string): Outcome {
    const nodeId = this.directory.assignedNodesOf(agentId)[0];
    return nodeId
      ? { nodeId }
      : { reason: 'its placement was refused while this request waited for it' };
  }
}

/** The wire form of an agent's prices, as the node agent reads them from its assignment. */
function agentPricingOf(p: NonNullable<PlacementAgent['pricing']>): AgentPricing {
  return {
    currency: p.currency,
    agentHour: p.agent_hour,
    models: Object.fromEntries(Object.entries(p.models).map(([model, price]) => [model, { inputPer1k: price.input_per_1k, outputPer1k: price.output_per_1k }])),
  };
}
