import type { Event } from '../decider.js';
import type { Blueprint } from './blueprint.schema.js';

export type BlueprintRegistered = Event<
  'BlueprintRegistered',
  {
    readonly blueprintId: string;
    readonly tenantId: string;
    readonly name: string;
    readonly version: string;
    readonly hash: string;
    readonly document: Blueprint;
    readonly at: string;
  }
>;

export type BlueprintVersionPublished = Event<
  'BlueprintVersionPublished',
  {
    readonly blueprintId: string;
    readonly name: string;
    readonly version: string;
    readonly previousVersion: string;
    readonly hash: string;
    readonly document: Blueprint;
    readonly at: string;
  }
>;

export type BlueprintDeprecated = Event<'BlueprintDeprecated', { readonly blueprintId: string; readonly reason: string; readonly at: string }>;

export type BlueprintEvent = BlueprintRegistered | BlueprintVersionPublished | BlueprintDeprecated;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const BLUEPRINT_EVENT_TYPE_SET: { readonly [K in BlueprintEvent['type']]: true } = {
  BlueprintRegistered: true,
  BlueprintVersionPublished: true,
  BlueprintDeprecated: true,
};
export const BLUEPRINT_EVENT_TYPES = Object.keys(BLUEPRINT_EVENT_TYPE_SET) as readonly BlueprintEvent['type'][];

export function isBlueprintEvent(event: { readonly type: string }): event is BlueprintEvent {
  return (BLUEPRINT_EVENT_TYPES as readonly string[]).includes(event.type);
}
