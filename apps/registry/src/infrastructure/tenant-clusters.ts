import { Inject, Injectable } from '@nestjs/common';
import { spansAllTenants } from '@flotilla/contracts';
import type { RequestMeta } from '@flotilla/messaging';
import { ClusterEntity, type ReadModelOrm } from '@flotilla/projections';
import { identityOf } from './request-context.js';
import { READ_MODELS } from './tokens.js';

/**
 * Nodes are shared between tenants, the agents on them are not: a caller sees the agents of its
 * own tenant's clusters only (from the clusters read model), whatever node they run on.
 */
@Injectable()
export class TenantClusters {
  constructor(@Inject(READ_MODELS) private readonly orm: ReadModelOrm) {}

  /** The clusters whose agents the caller may see; null when it spans every tenant. */
  async visible(meta: RequestMeta): Promise<ReadonlySet<string> | null> {
    const identity = identityOf(meta);
    if (spansAllTenants(identity)) return null;
    const rows = await this.orm.em.fork().find(ClusterEntity, { tenantId: identity.tenantId }, { fields: ['id'] });
    return new Set(rows.map((r) => r.id));
  }
}
