import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { loadConfig } from '@flotilla/config';
import { newId, RateLimitedError, UnauthenticatedError, UnavailableError } from '@flotilla/domain';
import { httpErrorOf } from '@flotilla/platform';
import type { Messaging } from '@flotilla/messaging';
import { createLogger, promClient } from '@flotilla/telemetry';
import { Authenticator } from './authenticator.js';

const SECRET = 'Zk3v9Qp1Lr8Xw2Tn6Yb4Hs0Ud7Mc5Ge1Fa8';
const logger = createLogger({ service: 'gateway', instanceId: 'test', level: 'silent' });

/** The authenticator with JWTs enabled; JWTs never touch NATS, so no connection is needed. */
const authenticator = (env: Record<string, string> = {}) =>
  new Authenticator(undefined as unknown as Messaging, loadConfig({ AUTH_JWT_SECRET: SECRET, ...env }), logger, new promClient.Registry());

const now = () => Math.floor(Date.now() / 1000);
async function token(claims: { iat?: number | null; exp: number; iss?: string; aud?: string }): Promise<string> {
  let jwt = new SignJWT({ tenant: 'acme', role: 'operator' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(claims.exp);
  if (claims.iat !== null) jwt = jwt.setIssuedAt(claims.iat ?? now());
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(new TextEncoder().encode(SECRET));
}
const outcome = async (auth: Authenticator, jwt: string) =>
  auth.authenticate({ authorization: `Bearer ${jwt}` }, '127.0.0.1').then(
    (caller) => caller.tenantId,
    (err: unknown) => (err instanceof UnauthenticatedError ? 'refused' : err),
  );

describe('a JWT is accepted only within its age, from its issuer, for its audience', () => {
  it('accepts a fresh, short-lived token', async () => {
    expect(await outcome(authenticator(), await token({ exp: now() + 600 }))).toBe('acme');
  });

  it('refuses a token without iat: its age cannot be known', async () => {
    expect(await outcome(authenticator(), await token({ iat: null, exp: now() + 600 }))).toBe('refused');
  });

  it('refuses a token issued longer ago than AUTH_JWT_MAX_AGE_S, even if it has not expired', async () => {
    expect(await outcome(authenticator(), await token({ iat: now() - 7200, exp: now() + 600 }))).toBe('refused');
    expect(await outcome(authenticator({ AUTH_JWT_MAX_AGE_S: '86400' }), await token({ iat: now() - 7200, exp: now() + 600 }))).toBe('acme');
  });

  it('refuses a token whose lifetime (exp − iat) exceeds AUTH_JWT_MAX_AGE_S', async () => {
    expect(await outcome(authenticator(), await token({ exp: now() + 30 * 86_400 }))).toBe('refused');
    expect(await outcome(authenticator({ AUTH_JWT_MAX_AGE_S: '600' }), await token({ exp: now() + 900 }))).toBe('refused');
  });

  it('checks iss and aud when configured (production requires both)', async () => {
    const auth = authenticator({ AUTH_JWT_ISSUER: 'https://idp.example.com', AUTH_JWT_AUDIENCE: 'flotilla' });
    expect(await outcome(auth, await token({ exp: now() + 600 }))).toBe('refused');
    expect(await outcome(auth, await token({ exp: now() + 600, iss: 'https://idp.example.com', aud: 'other-service' }))).toBe('refused');
    expect(await outcome(auth, await token({ exp: now() + 600, iss: 'https://idp.example.com', aud: 'flotilla' }))).toBe('acme');
  });
});

describe('failed authentications are rate limited and cost no verification they cannot need', () => {
  const secret = (c: string) => c.repeat(43);
  const goodKey = `flk.${newId('key')}.${secret('g')}`;
  /** An orchestrator that knows one key; counts the verification requests it gets. */
  const orchestrator = (opts: { down?: boolean } = {}) => {
    const calls: string[] = [];
    const messaging = {
      request: async (_route: unknown, data: { token: string }) => {
        calls.push(data.token);
        if (opts.down) throw new UnavailableError('no responders for orchestrator.apikeys.verify');
        if (data.token !== goodKey) throw new UnauthenticatedError('invalid or revoked API key');
        return { key_id: 'k', tenant_id: 'acme', role: 'operator', name: 'ci' };
      },
    } as unknown as Messaging;
    return { calls, messaging };
  };
  const auth = (messaging: Messaging, env: Record<string, string> = {}) =>
    new Authenticator(messaging, loadConfig({ AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_S: '60', ...env }), logger, new promClient.Registry());
  const attempt = (a: Authenticator, key: string, source = '10.0.0.1') =>
    a.authenticate({ apiKey: key }, source).then(
      (c) => c.tenantId,
      (err: unknown) => err,
    );
  const wrong = (i: number) => `flk.${newId('key')}.${secret(String.fromCharCode(97 + i))}`;

  it('beyond AUTH_FAILURE_LIMIT failures an address gets 429 with Retry-After, before any verification request', async () => {
    const o = orchestrator();
    const a = auth(o.messaging);
    for (let i = 0; i < 3; i++) expect(await attempt(a, wrong(i))).toBeInstanceOf(UnauthenticatedError);
    expect(o.calls).toHaveLength(3);
    const limited = await attempt(a, wrong(3));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(httpErrorOf(limited).status).toBe(429);
    expect(Number(httpErrorOf(limited).headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(o.calls).toHaveLength(3);
    // Even the right key waits: the address is refused until its window refills...
    expect(await attempt(a, goodKey)).toBeInstanceOf(RateLimitedError);
    // ...while other addresses are not affected.
    expect(await attempt(a, goodKey, '10.0.0.2')).toBe('acme');
    // gRPC peers carry a port: the limit is per address.
    expect(await attempt(a, wrong(4), 'ipv4:10.0.0.1:51234')).toBeInstanceOf(RateLimitedError);
  });

  it('a credential verified lately is answered from the cache, whatever its address did', async () => {
    const o = orchestrator();
    const a = auth(o.messaging);
    expect(await attempt(a, goodKey)).toBe('acme');
    for (let i = 0; i < 3; i++) await attempt(a, wrong(i));
    expect(await attempt(a, goodKey)).toBe('acme');
    expect(o.calls.filter((t) => t === goodKey)).toHaveLength(1);
  });

  it('a credential that just failed is refused from memory, and a malformed key costs no request', async () => {
    const o = orchestrator();
    const a = auth(o.messaging, { AUTH_FAILURE_LIMIT: '100' });
    const bad = wrong(0);
    for (let i = 0; i < 5; i++) expect(await attempt(a, bad, `10.0.1.${i}`)).toBeInstanceOf(UnauthenticatedError);
    expect(o.calls).toEqual([bad]);
    expect(await attempt(a, `flk.${newId('key')}.${secret('x').slice(0, 30)}`)).toBeInstanceOf(UnauthenticatedError);
    expect(await attempt(a, 'flk.NOT_AN_ID.' + secret('x'))).toBeInstanceOf(UnauthenticatedError);
    expect(o.calls).toEqual([bad]);
  });

  it('failures are limited per API key id too, across addresses', async () => {
    const o = orchestrator();
    const a = auth(o.messaging);
    const keyId = newId('key');
    for (let i = 0; i < 3; i++) expect(await attempt(a, `flk.${keyId}.${secret(String.fromCharCode(97 + i))}`, `10.0.2.${i}`)).toBeInstanceOf(UnauthenticatedError);
    expect(await attempt(a, `flk.${keyId}.${secret('z')}`, '10.0.2.99')).toBeInstanceOf(RateLimitedError);
    expect(o.calls).toHaveLength(3);
  });

  it('an orchestrator that cannot answer is a 503, neither a 401 nor a failure counted against the caller', async () => {
    const o = orchestrator({ down: true });
    const a = auth(o.messaging);
    for (let i = 0; i < 5; i++) {
      const err = await attempt(a, goodKey);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(httpErrorOf(err).status).toBe(503);
    }
    expect(o.calls).toHaveLength(5);
  });
});
