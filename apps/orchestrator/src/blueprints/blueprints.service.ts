import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { CommandHandler, readModelsReached } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import { spansAllTenants, type BlueprintView } from '@flotilla/contracts';
import {
  AlreadyExistsError,
  blueprintDecider,
  blueprintStream,
  NotFoundError,
  parseBlueprint,
  redactRuntimeSecrets,
  validateBlueprint,
  type BlueprintCommand,
  type BlueprintState,
} from '@flotilla/domain';
import type { RequestMeta } from '@flotilla/messaging';
import { CONFIG, PG_POOL } from '@flotilla/platform';
import {
  BlueprintEntity,
  BlueprintVersionEntity,
  ORCHESTRATOR_PROJECTIONS,
  type BlueprintRow,
  type BlueprintVersionRow,
  type ReadModelOrm,
  withTenant,
} from '@flotilla/projections';
import type { CommandReply } from '../clusters/clusters.service.js';
import { commandContext, identityOf, now, owningTenant, tenantScope } from '../infrastructure/request-context.js';
import { READ_MODELS } from '../infrastructure/tokens.js';

const iso = (d: Date | string) => new Date(d).toISOString();

function viewFromState(
  state: Exclude<BlueprintState, { status: 'none' }>,
  updatedAt: string,
): BlueprintView {
  return {
    id: state.blueprintId,
    tenant_id: state.tenantId,
    name: state.name,
    latest_version: state.latestVersion,
    status: state.status,
    created_at: state.registeredAt,
    updated_at: updatedAt,
  };
}

function viewFromRow(row: BlueprintRow): BlueprintView {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    latest_version: row.latestVersion,
    status: row.status as BlueprintView['status'],
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

@Injectable()
export class BlueprintsService {
  constructor(
    private readonly commands: CommandHandler,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Registers a blueprint, or publishes a newer version of one the caller's tenant owns. */
  async register(
    req: {
      document: string | Record<string, unknown>;
      format?: 'yaml' | 'json' | undefined;
      wait: boolean;
    },
    meta: RequestMeta,
  ): Promise<CommandReply<BlueprintView>> {
    const blueprint =
      typeof req.document === 'string'
        ? parseBlueprint(req.document, req.format ? { format: req.format } : {})
        : validateBlueprint(req.document);
    const identity = identityOf(meta);
    const id = blueprint.metadata.id;
    const { state } = await this.commands.load(blueprintDecider, blueprintStream(id));
    if (
      state.status !== 'none' &&
      state.tenantId !== owningTenant(meta) &&
      !spansAllTenants(identity) &&
      identity.role !== 'service'
    )
      throw AlreadyExistsError.of('blueprint', id);
    return this.execute(
      id,
      {
        type: 'RegisterBlueprint',
        data: { blueprint, tenantId: owningTenant(meta) },
        metadata: { now: now() },
      },
      meta,
      req.wait,
    );
  }

  async deprecate(
    id: string,
    reason: string,
    wait: boolean,
    meta: RequestMeta,
  ): Promise<CommandReply<BlueprintView>> {
    await this.visible(id, meta);
    return this.execute(
      id,
      { type: 'DeprecateBlueprint', data: { reason }, metadata: { now: now() } },
      meta,
      wait,
    );
  }

  async list(
    limit: number,
    offset: number,
    meta: RequestMeta,
  ): Promise<{ blueprints: BlueprintView[]; total: number }> {
    const tenantId = tenantScope(meta);
    // The filter, and row-level security behind it (withTenant) as the second wall.
    const [rows, total] = await withTenant(this.orm, tenantId, (em) =>
      em.findAndCount(BlueprintEntity, (tenantId ? { tenantId } : {}) as never, {
        orderBy: { id: 'asc' },
        limit,
        offset,
      }),
    );
    return { blueprints: (rows as BlueprintRow[]).map(viewFromRow), total };
  }

  async get(id: string, meta: RequestMeta) {
    const tenantId = tenantScope(meta);
    const { row, versions } = await withTenant(this.orm, tenantId, async (em) => {
      const found = (await em.findOne(BlueprintEntity, { id } as never)) as BlueprintRow | null;
      if (!found || (tenantId && found.tenantId !== tenantId)) throw NotFoundError.of('blueprint', id);
      const all = (await em.find(BlueprintVersionEntity, { blueprintId: id } as never, {
        orderBy: { createdAt: 'asc' },
      })) as BlueprintVersionRow[];
      return { row: found, versions: all };
    });
    const latest = versions.find((v) => v.version === row.latestVersion);
    const document = (latest?.document ?? {}) as {
      metadata?: { description?: string; tags?: string[] };
    };
    return {
      ...viewFromRow(row),
      description: document.metadata?.description ?? '',
      tags: document.metadata?.tags ?? [],
      // The document as written, but for its runtimes' header values and URL credentials.
      document: redactRuntimeSecrets(latest?.document ?? {}),
      versions: versions.map((v) => ({
        version: v.version,
        hash: v.hash,
        created_at: iso(v.createdAt),
      })),
    };
  }

  private async visible(id: string, meta: RequestMeta): Promise<void> {
    const { state } = await this.commands.load(blueprintDecider, blueprintStream(id));
    const identity = identityOf(meta);
    if (
      state.status === 'none' ||
      (!spansAllTenants(identity) && state.tenantId !== identity.tenantId)
    )
      throw NotFoundError.of('blueprint', id);
  }

  private async execute(
    id: string,
    command: BlueprintCommand,
    meta: RequestMeta,
    wait: boolean,
  ): Promise<CommandReply<BlueprintView>> {
    const result = await this.commands.handle(
      blueprintDecider,
      blueprintStream(id),
      command,
      commandContext(meta),
    );
    // The command is stored: read models that lag make the answer 202, never an error.
    const behind =
      wait && result.position !== null
        ? !(await readModelsReached(
            this.pool,
            ORCHESTRATOR_PROJECTIONS.map((p) => p.name),
            result.position,
            this.config.READ_YOUR_WRITES_TIMEOUT_MS,
          ))
        : false;
    if (result.state.status === 'none') throw NotFoundError.of('blueprint', id);
    const at = result.events.at(-1)?.occurredAt.toISOString() ?? result.state.registeredAt;
    return {
      result: viewFromState(result.state, at),
      position: result.position?.toString() ?? null,
      events: result.events.map((e) => e.type),
      duplicate: result.duplicate,
      read_models_behind: behind,
    };
  }
}
