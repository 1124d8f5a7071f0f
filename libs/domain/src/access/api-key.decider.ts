import { commandNow, type Command, type Decider, type Event } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError, type ValidationIssue } from '../errors.js';
import { isValidId } from '../ids.js';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** An admin key may span every tenant; every other key belongs to exactly one. */
export const ALL_TENANTS = '*';

export type CreateApiKey = Command<
  'CreateApiKey',
  {
    readonly keyId: string;
    readonly tenantId: string;
    readonly role: Role;
    readonly name: string;
    /** SHA-256 (hex) of the secret: the secret itself is shown once and never stored. */
    readonly secretHash: string;
    readonly createdBy: string;
  }
>;
export type RevokeApiKey = Command<'RevokeApiKey', { readonly reason: string; readonly revokedBy: string }>;
export type ApiKeyCommand = CreateApiKey | RevokeApiKey;

type At = { readonly at: string };
export type ApiKeyCreated = Event<
  'ApiKeyCreated',
  At & { readonly keyId: string; readonly tenantId: string; readonly role: Role; readonly name: string; readonly secretHash: string; readonly createdBy: string }
>;
export type ApiKeyRevoked = Event<'ApiKeyRevoked', At & { readonly keyId: string; readonly reason: string; readonly revokedBy: string }>;
export type ApiKeyEvent = ApiKeyCreated | ApiKeyRevoked;
export const API_KEY_EVENT_TYPES = ['ApiKeyCreated', 'ApiKeyRevoked'] as const;

interface KeyCore {
  readonly keyId: string;
  readonly tenantId: string;
  readonly role: Role;
  readonly name: string;
  readonly secretHash: string;
  readonly createdAt: string;
}
export type ApiKeyState =
  | { readonly status: 'none' }
  | (KeyCore & { readonly status: 'active' })
  | (KeyCore & { readonly status: 'revoked'; readonly revokedAt: string; readonly reason: string });

export const apiKeyStream = (keyId: string): string => `apikey-${keyId}`;

function validateCreate(data: CreateApiKey['data']): void {
  const issues: ValidationIssue[] = [];
  if (!isValidId('key', data.keyId)) issues.push({ path: 'keyId', message: 'expected a key id' });
  if (!(ROLES as readonly string[]).includes(data.role)) issues.push({ path: 'role', message: `expected one of ${ROLES.join(', ')}` });
  if (data.tenantId === ALL_TENANTS) {
    if (data.role !== 'admin') issues.push({ path: 'tenantId', message: "only admin keys may span every tenant ('*')" });
  } else if (!isValidId('tenant', data.tenantId)) issues.push({ path: 'tenantId', message: "expected a tenant id (a DNS label or a TypeID 'tenant_…') or '*'" });
  if (typeof data.name !== 'string' || data.name.trim().length === 0 || data.name.length > 100) issues.push({ path: 'name', message: 'expected 1 to 100 characters' });
  if (!/^[0-9a-f]{64}$/.test(data.secretHash)) issues.push({ path: 'secretHash', message: 'expected a SHA-256 hex digest' });
  if (issues.length) throw ValidationError.of(issues, 'API key');
}

export function decide(command: ApiKeyCommand, state: ApiKeyState): readonly ApiKeyEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'CreateApiKey': {
      validateCreate(command.data);
      if (state.status !== 'none') throw AlreadyExistsError.of('API key', command.data.keyId);
      return [{ type: 'ApiKeyCreated', data: { ...command.data, name: command.data.name.trim(), at } }];
    }
    case 'RevokeApiKey': {
      if (state.status === 'none') throw new NotFoundError('API key not found', { kind: 'api_key' });
      if (state.status === 'revoked') return [];
      if (!command.data.reason) throw new RuleViolationError('reason_required', 'a revocation needs a reason');
      return [{ type: 'ApiKeyRevoked', data: { keyId: state.keyId, reason: command.data.reason, revokedBy: command.data.revokedBy, at } }];
    }
    default: {
      const unknown: never = command;
      throw ValidationError.of([{ path: 'type', message: `unknown command ${JSON.stringify((unknown as { type: string }).type)}` }]);
    }
  }
}

export function evolve(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const { keyId, tenantId, role, name, secretHash, at } = event.data;
      return { status: 'active', keyId, tenantId, role, name, secretHash, createdAt: at };
    }
    case 'ApiKeyRevoked':
      return state.status === 'none' ? state : { ...state, status: 'revoked', revokedAt: event.data.at, reason: event.data.reason };
    default:
      return state;
  }
}

export const initialState = (): ApiKeyState => ({ status: 'none' });

/** A key's events are its tenant's ('*' for a key spanning every tenant). */
export const tenantOf = (state: ApiKeyState): string | null => (state.status === 'none' ? null : state.tenantId);

export const apiKeyDecider: Decider<ApiKeyState, ApiKeyCommand, ApiKeyEvent> = { decide, evolve, initialState, tenantOf };
