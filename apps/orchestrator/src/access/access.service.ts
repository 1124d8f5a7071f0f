import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandHandler } from '@flotilla/application';
import {
  API_KEY_PATTERN,
  accessSubjects,
  type ApiKeyView,
  type EventMessageDto,
  type EventView,
  spansAllTenants,
} from '@flotilla/contracts';
import {
  ALL_TENANTS,
  apiKeyDecider,
  apiKeyStream,
  ForbiddenError,
  newId,
  NotFoundError,
  UnauthenticatedError,
  type Role,
} from '@flotilla/domain';
import { Messaging, type RequestMeta } from '@flotilla/messaging';
import {
  ApiKeyEntity,
  CheckpointEntity,
  ClusterEventEntity,
  type ApiKeyRow,
  type ClusterEventRow,
  type ReadModelOrm,
  withTenant,
} from '@flotilla/projections';
import { eventViewFromRow } from '../clusters/cluster.views.js';
import { commandContext, identityOf, now } from '../infrastructure/request-context.js';
import { READ_MODELS } from '../infrastructure/tokens.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const view = (
  k: { keyId: string; tenantId: string; role: Role; name: string; createdAt: string } & {
    createdBy?: string;
    revokedAt?: string | null;
  },
): ApiKeyView => ({
  id: k.keyId,
  tenant_id: k.tenantId,
  role: k.role,
  name: k.name,
  created_by: k.createdBy ?? '',
  created_at: k.createdAt,
  revoked_at: k.revokedAt ?? null,
});

const rowView = (r: ApiKeyRow): ApiKeyView => ({
  id: r.id,
  tenant_id: r.tenantId,
  role: r.role as Role,
  name: r.name,
  created_by: r.createdBy,
  created_at: new Date(r.createdAt).toISOString(),
  revoked_at: r.revokedAt ? new Date(r.revokedAt).toISOString() : null,
});

/**
 * API keys as an event-sourced aggregate (each key's stream is its audit trail): created with a
 * random secret that is returned once and stored only as its SHA-256, revoked with a reason.
 * Verification reads the aggregate (not a read model) so a revocation takes effect at once.
 */
@Injectable()
export class AccessService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly messaging: Messaging,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
  ) {}

  async create(
    req: { tenant_id: string; role: Role; name: string },
    meta: RequestMeta,
  ): Promise<{ key: ApiKeyView; secret: string }> {
    const caller = identityOf(meta);
    // Only an admin spanning every tenant may mint keys for another tenant or for all of them.
    if (!spansAllTenants(caller) && req.tenant_id !== caller.tenantId) {
      throw new ForbiddenError(
        `an admin of tenant '${caller.tenantId}' cannot create keys for '${req.tenant_id}'`,
        { tenant_id: req.tenant_id },
      );
    }
    const keyId = newId('key');
    const secret = randomBytes(32).toString('base64url');
    const result = await this.commands.handle(
      apiKeyDecider,
      apiKeyStream(keyId),
      {
        type: 'CreateApiKey',
        data: {
          keyId,
          tenantId: req.tenant_id,
          role: req.role,
          name: req.name,
          secretHash: sha256(secret),
          createdBy: caller.actor,
        },
        metadata: { now: now() },
      },
      commandContext(meta),
    );
    if (result.state.status === 'none') throw new NotFoundError('API key not created');
    return {
      key: view({ ...result.state, createdBy: caller.actor }),
      secret: `flk.${keyId}.${secret}`,
    };
  }

  async revoke(id: string, reason: string, meta: RequestMeta): Promise<ApiKeyView> {
    const { state } = await this.commands.load(apiKeyDecider, apiKeyStream(id));
    const caller = identityOf(meta);
    if (state.status === 'none' || (!spansAllTenants(caller) && state.tenantId !== caller.tenantId))
      throw NotFoundError.of('API key', id);
    const result = await this.commands.handle(
      apiKeyDecider,
      apiKeyStream(id),
      { type: 'RevokeApiKey', data: { reason, revokedBy: caller.actor }, metadata: { now: now() } },
      commandContext(meta),
    );
    this.messaging.publish(accessSubjects.revoked, { key_id: id });
    const s = result.state;
    if (s.status === 'none') throw NotFoundError.of('API key', id);
    return view({ ...s, revokedAt: s.status === 'revoked' ? s.revokedAt : null });
  }

  async list(
    tenantId: string | undefined,
    limit: number,
    offset: number,
    meta: RequestMeta,
  ): Promise<{ keys: ApiKeyView[]; total: number }> {
    const caller = identityOf(meta);
    const scope = spansAllTenants(caller) ? tenantId : caller.tenantId;
    const [rows, total] = await this.orm.em
      .fork()
      .findAndCount(
        ApiKeyEntity,
        (scope && scope !== ALL_TENANTS ? { tenantId: scope } : {}) as never,
        { orderBy: { createdAt: 'asc' }, limit, offset },
      );
    return { keys: (rows as ApiKeyRow[]).map(rowView), total };
  }

  /** The identity behind a token, or UnauthenticatedError (the same for unknown, malformed and revoked keys). */
  async verify(
    token: string,
  ): Promise<{ key_id: string; tenant_id: string; role: Role; name: string }> {
    const match = API_KEY_PATTERN.exec(token);
    const refuse = () => new UnauthenticatedError('invalid or revoked API key');
    if (!match) throw refuse();
    const [, keyId, secret] = match as unknown as [string, string, string];
    const { state } = await this.commands
      .load(apiKeyDecider, apiKeyStream(keyId))
      .catch(() => ({ state: { status: 'none' as const } }));
    if (state.status !== 'active') throw refuse();
    const expected = Buffer.from(state.secretHash, 'hex');
    const actual = Buffer.from(sha256(secret), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw refuse();
    return { key_id: keyId, tenant_id: state.tenantId, role: state.role, name: state.name };
  }

  /** The audit trail from the event log's read model, oldest first. */
  async audit(
    q: {
      actor?: string | undefined;
      cluster?: string | undefined;
      tenant_id?: string | undefined;
      type?: string | undefined;
      since?: string | undefined;
      limit: number;
      offset: number;
    },
    meta: RequestMeta,
  ): Promise<{ events: EventView[]; total: number }> {
    const caller = identityOf(meta);
    const where: Record<string, unknown> = {};
    const tenant = spansAllTenants(caller) ? q.tenant_id : caller.tenantId;
    if (tenant) where['tenantId'] = tenant;
    if (q.actor) where['actor'] = q.actor;
    if (q.cluster) where['clusterId'] = q.cluster;
    if (q.type) where['type'] = q.type;
    if (q.since) where['occurredAt'] = { $gte: new Date(q.since) };
    // The filter, and row-level security behind it for a caller of one tenant.
    const [rows, total] = await withTenant(this.orm, spansAllTenants(caller) ? undefined : caller.tenantId, (em) =>
      em.findAndCount(ClusterEventEntity, where as never, {
        orderBy: { position: 'asc' },
        limit: q.limit,
        offset: q.offset,
      }),
    );
    return { events: (rows as ClusterEventRow[]).map(eventViewFromRow), total };
  }

  /**
   * One tenant's events between two log positions, oldest first, for the gateway's watchers (SSE
   * and gRPC WatchEvents replay history here, then follow the tenant's live NATS subject): the
   * filter and row-level security, on the (tenant_id, position) index, instead of every tenant's
   * events. `checkpoint` says how far the read model has got, so the gateway knows when the
   * history is complete up to `until`. Runtime secrets are redacted by the gateway, as live events.
   */
  async history(
    q: {
      after: string;
      until: string;
      cluster_id?: string | undefined;
      node_id?: string | undefined;
      aggregate?: 'cluster' | 'node' | 'blueprint' | undefined;
      types?: string[] | undefined;
      limit: number;
    },
    meta: RequestMeta,
  ): Promise<{ events: EventMessageDto[]; checkpoint: string }> {
    const caller = identityOf(meta);
    const tenant = spansAllTenants(caller) ? undefined : caller.tenantId;
    const where: Record<string, unknown> = { position: { $gt: q.after, $lte: q.until } };
    if (tenant) where['tenantId'] = tenant;
    if (q.cluster_id) Object.assign(where, { aggregate: 'cluster', aggregateId: q.cluster_id });
    else if (q.node_id) Object.assign(where, { aggregate: 'node', aggregateId: q.node_id });
    else if (q.aggregate) where['aggregate'] = q.aggregate;
    if (q.types?.length) where['type'] = { $in: q.types };
    const [rows, checkpoint] = await Promise.all([
      withTenant(this.orm, tenant, (em) => em.find(ClusterEventEntity, where as never, { orderBy: { position: 'asc' }, limit: q.limit })),
      this.orm.em.fork().findOne(CheckpointEntity, { name: 'cluster_events' } as never),
    ]);
    return {
      events: (rows as ClusterEventRow[]).map((r) => {
        const { aggregate, aggregateId } = r;
        return {
          id: r.eventId,
          type: r.type,
          stream: r.streamId,
          aggregate,
          aggregate_id: aggregateId,
          revision: r.revision ?? -1,
          position: String(r.position),
          occurred_at: new Date(r.occurredAt).toISOString(),
          data: r.data,
          metadata: r.metadata,
        };
      }),
      checkpoint: String((checkpoint as { position?: string } | null)?.position ?? '0'),
    };
  }
}
