import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '@flotilla/config';
import { accessRoutes, accessSubjects, API_KEY_PATTERN, type RequestIdentity } from '@flotilla/contracts';
import { RateLimitedError, ROLES, TimeoutError, UnauthenticatedError, UnavailableError, isValidId, type Role } from '@flotilla/domain';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import { promClient, type Counter, type Logger, type Registry } from '@flotilla/telemetry';
import { FailureLimiter } from './rate-limiter.js';

/** An identity the gateway knows: who, which tenant, which role, and a key for rate limiting. */
export interface Caller extends RequestIdentity {
  readonly principal: string;
}

export const OPEN_MODE_IDENTITY: Caller = { actor: 'anonymous', tenantId: 'default', role: 'admin', principal: 'anonymous' };

const KEY_CACHE_MS = 30_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest();
/** The secret of an API key: 32 random bytes, base64url (see the orchestrator's AccessService). */
const KEY_SECRET_LENGTH = 43;

/** The address of a caller: an IP without its port (gRPC peers are `ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`). */
export function sourceAddress(peer: string): string {
  const p = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(p);
  return v4 ? v4[1]! : p;
}

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
 *
 * Failures cost: an API key is verified with a NATS request and an event-store read. So failed
 * attempts are limited per source address and per key id (AUTH_FAILURE_LIMIT per
 * AUTH_FAILURE_WINDOW_S; beyond, 429 with Retry-After before any verification), a credential that
 * failed is refused from memory for AUTH_FAILURE_WINDOW_S (a negative cache), and an API key that
 * cannot be valid (malformed id or secret) is refused without a request. Credentials verified
 * lately are answered from the cache and never limited. An orchestrator that cannot answer is a
 * 503, not a failed authentication.
 */
@Injectable()
export class Authenticator implements OnModuleInit, OnModuleDestroy {
  private readonly keyCache = new Map<string, { caller: Caller; until: number }>();
  private revocations: Subscription | undefined;
  private readonly bootstrap: Buffer | undefined;
  private readonly jwtKey: Uint8Array | KeyObject | undefined;
  readonly failures: Counter<string>;
  private readonly bySource: FailureLimiter;
  private readonly byKeyId: FailureLimiter;
  /** sha256 of credentials that failed lately, with when they may be tried for real again. */
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.bootstrap = config.FLOTILLA_BOOTSTRAP_ADMIN_KEY ? sha256(config.FLOTILLA_BOOTSTRAP_ADMIN_KEY) : undefined;
    this.jwtKey = config.AUTH_JWT_SECRET ? new TextEncoder().encode(config.AUTH_JWT_SECRET) : config.AUTH_JWT_PUBLIC_KEY ? createPublicKey(config.AUTH_JWT_PUBLIC_KEY) : undefined;
    const windowMs = config.AUTH_FAILURE_WINDOW_S * 1000;
    this.bySource = new FailureLimiter(config.AUTH_FAILURE_LIMIT, windowMs, 'address');
    this.byKeyId = new FailureLimiter(config.AUTH_FAILURE_LIMIT, windowMs, 'API key');
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
    const address = sourceAddress(source);
    const keyId = token ? API_KEY_PATTERN.exec(token)?.[1] : undefined;
    let fingerprint: string | undefined;
    try {
      if (!token) {
        if (credentials.authorization) throw new UnauthenticatedError('unsupported Authorization scheme (use Bearer)');
        if (this.config.AUTH_MODE === 'open') return { ...OPEN_MODE_IDENTITY, sourceAddress: source };
        throw new UnauthenticatedError('credentials required: an API key (X-API-Key or Authorization: Bearer) or a JWT bearer token');
      }
      // Credentials seen lately (API keys for 30 s, the bootstrap key while it is configured) are
      // looked up by the credential itself: no hashing, no request, no limit.
      const cached = this.keyCache.get(token);
      let caller: Caller;
      if (cached && cached.until > Date.now()) {
        caller = cached.caller;
      } else {
        // Anything else may cost a verification: not for a source (or key id) that keeps failing,
        // nor for a credential that just failed.
        this.bySource.check(address);
        if (keyId) this.byKeyId.check(keyId);
        fingerprint = sha256(token).toString('base64url');
        const until = this.refused.get(fingerprint);
        if (until !== undefined && until > Date.now()) throw new UnauthenticatedError('invalid credentials (refused moments ago)');
        caller = await this.identify(token);
      }
      const narrowed = credentials.actAsTenant && caller.tenantId === '*' && isValidId('tenant', credentials.actAsTenant) ? { tenantId: credentials.actAsTenant } : {};
      return { ...caller, ...narrowed, sourceAddress: source };
    } catch (err) {
      if (err instanceof RateLimitedError) {
        this.failures.inc({ reason: 'rate_limited' });
        this.logger.warn({ source: address, keyId, reason: err.message }, 'authentication refused: too many failures');
        throw err;
      }
      if (err instanceof UnavailableError || err instanceof TimeoutError) {
        // The orchestrator could not answer: a 503, and nothing learnt about the credential.
        this.logger.warn({ source: address, reason: err.message }, 'authentication could not be checked');
        throw err;
      }
      this.failures.inc({ reason: 'unauthenticated' });
      this.logger.warn({ source: address, keyId, reason: (err as Error).message }, 'authentication failed');
      if (token) {
        this.bySource.fail(address);
        if (keyId) this.byKeyId.fail(keyId);
        if (fingerprint) this.rememberRefusal(fingerprint);
      }
      throw err instanceof UnauthenticatedError ? err : new UnauthenticatedError('invalid credentials');
    }
  }

  private rememberRefusal(fingerprint: string): void {
    this.refused.delete(fingerprint);
    this.refused.set(fingerprint, Date.now() + this.config.AUTH_FAILURE_WINDOW_S * 1000);
    if (this.refused.size > 50_000) this.refused.delete(this.refused.keys().next().value as string);
  }

  private async identify(token: string): Promise<Caller> {
    if (this.bootstrap) {
      const given = sha256(token);
      if (timingSafeEqual(given, this.bootstrap)) return this.remember(token, { actor: 'bootstrap-admin', tenantId: '*', role: 'admin', principal: 'bootstrap' }, Number.POSITIVE_INFINITY);
    }
    if (API_KEY_PATTERN.test(token)) return this.apiKey(token);
    if (token.split('.').length === 3) return this.jwt(token);
    throw new UnauthenticatedError('unrecognised credentials');
  }

  private async apiKey(token: string): Promise<Caller> {
    const [, keyId, secret] = API_KEY_PATTERN.exec(token) as unknown as [string, string, string];
    // No key was ever issued like this: refused without asking the orchestrator.
    if (!isValidId('key', keyId) || secret.length !== KEY_SECRET_LENGTH) throw new UnauthenticatedError('malformed API key');
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
