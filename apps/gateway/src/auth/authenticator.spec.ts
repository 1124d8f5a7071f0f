import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { loadConfig } from '@flotilla/config';
import { UnauthenticatedError } from '@flotilla/domain';
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

describe('issue 13: secrets on display (JWT age, issuer and audience)', () => {
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
