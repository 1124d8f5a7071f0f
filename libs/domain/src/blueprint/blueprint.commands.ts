import type { Command } from '../decider.js';
import type { Blueprint } from './blueprint.schema.js';

/** Registers a new blueprint (or, for an existing id, publishes the document's version). */
export type RegisterBlueprint = Command<'RegisterBlueprint', { readonly blueprint: Blueprint; readonly tenantId: string }>;
/** Publishes a newer version of an existing blueprint. */
export type PublishBlueprintVersion = Command<'PublishBlueprintVersion', { readonly blueprint: Blueprint }>;
/** Marks a blueprint as deprecated: existing clusters keep running, new ones should not use it. */
export type DeprecateBlueprint = Command<'DeprecateBlueprint', { readonly reason: string }>;

export type BlueprintCommand = RegisterBlueprint | PublishBlueprintVersion | DeprecateBlueprint;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const BLUEPRINT_COMMAND_TYPE_SET: { readonly [K in BlueprintCommand['type']]: true } = {
  RegisterBlueprint: true,
  PublishBlueprintVersion: true,
  DeprecateBlueprint: true,
};
export const BLUEPRINT_COMMAND_TYPES = Object.keys(BLUEPRINT_COMMAND_TYPE_SET) as readonly BlueprintCommand['type'][];
