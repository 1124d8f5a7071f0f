import { commandNow, type Decider } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError } from '../errors.js';
import { parseId } from '../ids.js';
import { compareSemVer } from '../semver.js';
import type { BlueprintCommand } from './blueprint.commands.js';
import type { BlueprintEvent } from './blueprint.events.js';
import { blueprintHash } from './blueprint.resolve.js';
import type { Blueprint } from './blueprint.schema.js';
import { validateBlueprint } from './blueprint.validate.js';

interface BlueprintCore {
  readonly blueprintId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly latestVersion: string;
  /** Every published version and the hash of its document. */
  readonly versions: Readonly<Record<string, string>>;
  readonly latest: Blueprint;
  readonly registeredAt: string;
}

export type BlueprintState =
  | { readonly status: 'none' }
  | (BlueprintCore & { readonly status: 'active' })
  | (BlueprintCore & { readonly status: 'deprecated'; readonly deprecatedReason: string; readonly deprecatedAt: string });

export const initialState = (): BlueprintState => ({ status: 'none' });

export function decide(command: BlueprintCommand, state: BlueprintState): readonly BlueprintEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'RegisterBlueprint': {
      const document = validateBlueprint(command.data.blueprint);
      const tenantId = parseId('tenant', command.data.tenantId, 'tenantId');
      const blueprintId = document.metadata.id;
      if (state.status === 'none') {
        return [
          {
            type: 'BlueprintRegistered',
            data: { blueprintId, tenantId, name: document.metadata.name, version: document.metadata.version, hash: blueprintHash(document), document, at },
          },
        ];
      }
      // Another tenant's blueprint with this id is not visible to this one: refuse as taken.
      if (state.tenantId !== tenantId) throw AlreadyExistsError.of('blueprint', blueprintId);
      return newVersion(state, document, at);
    }
    case 'PublishBlueprintVersion': {
      const document = validateBlueprint(command.data.blueprint);
      if (state.status === 'none') throw NotFoundError.of('blueprint', document.metadata.id);
      return newVersion(state, document, at);
    }
    case 'DeprecateBlueprint': {
      if (state.status === 'none') throw new NotFoundError('blueprint was not found');
      if (typeof command.data.reason !== 'string' || command.data.reason.trim() === '') {
        throw ValidationError.of([{ path: 'reason', message: 'say why the blueprint is deprecated' }], 'command');
      }
      if (state.status === 'deprecated') return [];
      return [{ type: 'BlueprintDeprecated', data: { blueprintId: state.blueprintId, reason: command.data.reason, at } }];
    }
    default: {
      const unknown: never = command;
      throw ValidationError.of([{ path: 'type', message: `unknown blueprint command ${JSON.stringify((unknown as { type: unknown }).type)}` }], 'command');
    }
  }
}

function newVersion(state: Exclude<BlueprintState, { status: 'none' }>, document: Blueprint, at: string): readonly BlueprintEvent[] {
  const { id, version } = document.metadata;
  if (id !== state.blueprintId) {
    throw new RuleViolationError('blueprint_id_mismatch', `document is blueprint '${id}', not '${state.blueprintId}'`, { expected: state.blueprintId, actual: id });
  }
  const hash = blueprintHash(document);
  const known = state.versions[version];
  if (known !== undefined) {
    // Re-registering identical content is a retry, not a change.
    if (known === hash) return [];
    throw new RuleViolationError('version_conflict', `version ${version} of '${id}' is already published with different content; bump the version`, {
      version,
    });
  }
  if (state.status === 'deprecated') {
    throw new RuleViolationError('blueprint_deprecated', `blueprint '${id}' is deprecated (${state.deprecatedReason})`, { version });
  }
  if (compareSemVer(version, state.latestVersion) <= 0) {
    throw new RuleViolationError('version_not_increasing', `version ${version} is not above the latest version ${state.latestVersion}`, {
      version,
      latestVersion: state.latestVersion,
    });
  }
  return [
    {
      type: 'BlueprintVersionPublished',
      data: { blueprintId: id, name: document.metadata.name, version, previousVersion: state.latestVersion, hash, document, at },
    },
  ];
}

export function evolve(state: BlueprintState, event: BlueprintEvent): BlueprintState {
  switch (event.type) {
    case 'BlueprintRegistered': {
      const d = event.data;
      return {
        status: 'active',
        blueprintId: d.blueprintId,
        tenantId: d.tenantId,
        name: d.name,
        latestVersion: d.version,
        versions: { [d.version]: d.hash },
        latest: d.document,
        registeredAt: d.at,
      };
    }
    case 'BlueprintVersionPublished': {
      if (state.status === 'none') return state;
      const d = event.data;
      return { ...state, name: d.name, latestVersion: d.version, versions: { ...state.versions, [d.version]: d.hash }, latest: d.document };
    }
    case 'BlueprintDeprecated': {
      if (state.status === 'none') return state;
      return { ...state, status: 'deprecated', deprecatedReason: event.data.reason, deprecatedAt: event.data.at };
    }
    default:
      return state;
  }
}

export const tenantOf = (state: BlueprintState): string | null => (state.status === 'none' ? null : state.tenantId);

export const blueprintDecider: Decider<BlueprintState, BlueprintCommand, BlueprintEvent> = { decide, evolve, initialState, tenantOf };
