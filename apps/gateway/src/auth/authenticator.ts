import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '@flotilla/config';
import { accessRoutes, accessSubjects, API_KEY_PATTERN, type RequestIdentity } from '@flotilla/contracts';
import { ROLES, UnauthenticatedError, isValidId, type Role } from '@flotilla/domain';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';

/** An identity the gateway knows: who, which tenant, which role, and a key for rate limiting. */
export interface Caller extends RequestIdentity {
  readonly principal: string;
}

export const OPEN_MODE_IDENTITY: Caller = { actor: 'anonymous', tenantId: 'default', role: 'admin', principal: 'anonymous' };

const KEY_CACHE_MS = 30_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest();

export interface Credentials {
  readonly authorization?: string | undefined;
  readonly apiKey?: string | undefined;
  /** X-Flotilla-Tenant: a caller spanning every tenant may act inside one. */
  readonly actAsTenant?: string | undefined;
}

/**
 * Who is calling: an API key (`flk.<id>.<secret>`, checked by the orchestrator and cached for
 * 30 s; a revocation announced on NATS evicts it at once), a JWT bearer token (HS256 or RS256
 * from configuration, exp/nbf enforced with bounded skew, iat required and at most
 * AUTH_JWT_MAX_AGE_S old, iss/aud when configured, claims sub/tenant/role), or the
 * bootstrap admin key. With AUTH_MODE=open, callers without credentials are a local admin.
 */
@Injectable()
export class Authenticator implements OnModuleInit, OnModuleDestroy {
  private readonly keyCache = new Map<string, { caller: Caller; until: number }>();
  private revocations: Subscription | undefined;
  private readonly bootstrap: Buffer | undefined;
  private readonly jwtKey: Uint8Array | KeyObject | undefined;
  readonly failures: Counter<string>;

  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.bootstrap = config.FLOTILLA_BOOTSTRAP_ADMIN_KEY ? sha256(config.FLOTILLA_BOOTSTRAP_ADMIN_KEY) : undefined;
    this.jwtKey = config.AUTH_JWT_SECRET ? new TextEncoder().encode(config.AUTH_JWT_SECRET) : config.AUTH_JWT_PUBLIC_KEY ? createPublicKey(config.AUTH_JWT_PUBLIC_KEY) : undefined;
    this.failures = new promClient.Counter({
      name: 'flotilla_auth_failures_total',
      help: 'Requests refused by authentication (401) or authorization (403), by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  onModuleInit(): void {
    if (this.config.AUTH_MODE === 'open') {
      this.logger.warn(
        'AUTH_MODE=open: requests without credentials act as an admin of tenant "default". This is for local development only; never expose this gateway.',
      );
    }
    this.revocations = this.messaging.nc.subscribe(this.messaging.ns.subject(accessSubjects.revoked), {
      callback: (_err, msg) => {
        const keyId = (decodeJson<{ key_id?: string }>(msg.data) ?? {}).key_id;
        for (const [token, entry] of this.keyCache) if (entry.caller.principal === `key:${keyId}`) this.keyCache.delete(token);
      },
    });
  }

  onModuleDestroy(): void {
    this.revocations?.unsubscribe();
  }

  async authenticate(credentials: Credentials, source: string): Promise<Caller> {
    const bearer = credentials.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
    const token = credentials.apiKey?.trim() || bearer;
    try {
      if (!token) {
        if (credentials.authorization) throw new UnauthenticatedError('unsupported Authorization scheme (use Bearer)');
        if (this.config.AUTH_MODE === 'open') return { ...OPEN_MODE_IDENTITY, sourceAddress: source };
        throw new UnauthenticatedError('credentials required: an API key (X-API-Key or Authorization: Bearer) or a JWT bearer token');
      }
      const caller = await this.identify(token);
      const narrowed = credentials.actAsTenant && caller.tenantId === '*' && isValidId('tenant', credentials.actAsTenant) ? { tenantId: credentials.actAsTenant } : {};
      return { ...caller, ...narrowed, sourceAddress: source };
    } catch (err) {
      this.failures.inc({ reason: 'unauthenticated' });
      this.logger.warn({ source, reason: (err as Error).message }, 'authentication failed');
      throw err instanceof UnauthenticatedError ? err : new UnauthenticatedError('invalid credentials');
    }
  }

  private async identify(token: string): Promise<Caller> {
    // Credentials seen lately (API keys for 30 s, the bootstrap key while it is configured) are
    // looked up by the credential itself: no hashing and no request per call.
    const cached = this.keyCache.get(token);
    if (cached && cached.until > Date.now()) return cached.caller;
    if (this.bootstrap) {
      const given = sha256(token);
      if (timingSafeEqual(given, this.bootstrap)) return this.remember(token, { actor: 'bootstrap-admin', tenantId: '*', role: 'admin', principal: 'bootstrap' }, Number.POSITIVE_INFINITY);
    }
    if (API_KEY_PATTERN.test(token)) return this.apiKey(token);
    if (token.split('.').length === 3) return this.jwt(token);
    throw new UnauthenticatedError('unrecognised credentials');
  }

  private async apiKey(token: string): Promise<Caller> {
    const key = await this.messaging.request(accessRoutes.verifyKey, { token });
    return this.remember(token, { actor: `key:${key.key_id}`, tenantId: key.tenant_id, role: key.role, principal: `key:${key.key_id}` }, Date.now() + KEY_CACHE_MS);
  }

  private remember(token: string, caller: Caller, until: number): Caller {
    this.keyCache.set(token, { caller, until });
    if (this.keyCache.size > 50_000) this.keyCache.delete(this.keyCache.keys().next().value as string);
    return caller;
  }

  private async jwt(token: string): Promise<Caller> {
    if (!this.jwtKey) throw new UnauthenticatedError('JWT bearer tokens are not enabled (set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwtKey, {
        algorithms: this.config.AUTH_JWT_SECRET ? ['HS256'] : ['RS256'],
        clockTolerance: this.config.AUTH_JWT_CLOCK_SKEW_S,
        // iat is required (maxTokenAge): a token says when it was minted, and is refused once
        // older than AUTH_JWT_MAX_AGE_S whatever its exp says.
        requiredClaims: ['exp', 'sub', 'iat'],
        maxTokenAge: this.config.AUTH_JWT_MAX_AGE_S,
        ...(this.config.AUTH_JWT_ISSUER ? { issuer: this.config.AUTH_JWT_ISSUER } : {}),
        ...(this.config.AUTH_JWT_AUDIENCE ? { audience: this.config.AUTH_JWT_AUDIENCE } : {}),
      }));
    } catch (err) {
      throw new UnauthenticatedError(`invalid token: ${(err as Error).message}`);
    }
    // A long-lived token is a standing credential: its lifetime may not exceed the maximum age.
    const lifetime = Number(payload.exp) - Number(payload.iat);
    if (!(lifetime <= this.config.AUTH_JWT_MAX_AGE_S))
      throw new UnauthenticatedError(`invalid token: exp is ${lifetime} s after iat; at most ${this.config.AUTH_JWT_MAX_AGE_S} s (AUTH_JWT_MAX_AGE_S) are accepted`);
    const tenant = String(payload['tenant'] ?? payload['tenant_id'] ?? '');
    const role = String(payload['role'] ?? '') as Role;
    if (!(ROLES as readonly string[]).includes(role)) throw new UnauthenticatedError(`token role must be one of ${ROLES.join(', ')}`);
    if (tenant !== '*' && !isValidId('tenant', tenant)) throw new UnauthenticatedError('token has no valid tenant claim');
    if (tenant === '*' && role !== 'admin') throw new UnauthenticatedError("only admin tokens may span every tenant ('*')");
    return { actor: `user:${payload.sub}`, tenantId: tenant, role, principal: `jwt:${payload.sub}` };
  }
}
