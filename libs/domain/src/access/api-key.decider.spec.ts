import { describe, expect, it } from '@jest/globals';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../errors.js';
import { fold } from '../decider.js';
import { apiKeyDecider, type ApiKeyCommand, type ApiKeyEvent } from './api-key.decider.js';

const now = '2026-11-25T12:00:00.000Z';
const hash = 'a'.repeat(64);
const create = (over: Partial<Extract<ApiKeyCommand, { type: 'CreateApiKey' }>['data']> = {}): ApiKeyCommand => ({
  type: 'CreateApiKey',
  data: { keyId: 'key-1', tenantId: 'acme', role: 'operator', name: 'ci', secretHash: hash, createdBy: 'root', ...over },
  metadata: { now },
});
const given = (events: ApiKeyEvent[]) => fold(apiKeyDecider, events);

describe('API key decider', () => {
  it.each([
    ['creates a key', [], create(), ['ApiKeyCreated']],
    ['revokes an active key', 'created', { type: 'RevokeApiKey', data: { reason: 'leaked', revokedBy: 'root' }, metadata: { now } }, ['ApiKeyRevoked']],
    ['revoking twice changes nothing', 'revoked', { type: 'RevokeApiKey', data: { reason: 'again', revokedBy: 'root' }, metadata: { now } }, []],
  ] as const)('%s', (_name, history, command, types) => {
    const created = apiKeyDecider.decide(create(), given([]));
    const events =
      history === 'created' ? [...created] : history === 'revoked' ? [...created, ...apiKeyDecider.decide({ type: 'RevokeApiKey', data: { reason: 'x', revokedBy: 'r' }, metadata: { now } }, given([...created]))] : [];
    expect(apiKeyDecider.decide(command as ApiKeyCommand, given(events as ApiKeyEvent[])).map((e) => e.type)).toEqual(types);
  });

  it('keeps only the hash, and the role and tenant it was given', () => {
    const state = given([...apiKeyDecider.decide(create(), given([]))]);
    expect(state).toMatchObject({ status: 'active', tenantId: 'acme', role: 'operator', secretHash: hash });
  });

  it.each([
    ['a non-admin key for every tenant', create({ tenantId: '*' }), ValidationError, 'tenantId'],
    ['an unknown role', create({ role: 'root' as never }), ValidationError, 'role'],
    ['a secret instead of its hash', create({ secretHash: 'hunter2' }), ValidationError, 'secretHash'],
  ] as const)('refuses %s', (_n, command, errorClass, path) => {
    const err = (() => {
      try {
        apiKeyDecider.decide(command, given([]));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(errorClass);
    expect((err as ValidationError).issues.map((i) => i.path)).toContain(path);
  });

  it('accepts an admin key for every tenant, refuses a second create and revoking a missing key', () => {
    expect(apiKeyDecider.decide(create({ tenantId: '*', role: 'admin' }), given([]))).toHaveLength(1);
    const events = [...apiKeyDecider.decide(create(), given([]))];
    expect(() => apiKeyDecider.decide(create(), given(events))).toThrow(AlreadyExistsError);
    expect(() => apiKeyDecider.decide({ type: 'RevokeApiKey', data: { reason: 'x', revokedBy: 'r' }, metadata: { now } }, given([]))).toThrow(NotFoundError);
  });
});
