import {
  commandNow,
  type Command,
  type Decider,
  type Event,
  PLACEMENT_STRATEGIES,
  PLATFORM_TENANT,
  type PlacementStrategy,
  ValidationError,
} from '@flotilla/domain';

/**
 * The registry's own settings as a tiny aggregate on one stream with a deterministic id, so a
 * switch of the default placement strategy is an event: it survives restarts and every replica
 * (and the audit trail) sees it.
 */
export const REGISTRY_SETTINGS_STREAM = 'registry-settings';
export const INITIAL_STRATEGY: PlacementStrategy = 'least-loaded';

export type SetDefaultStrategy = Command<
  'SetDefaultStrategy',
  { readonly strategy: PlacementStrategy }
>;
export type DefaultStrategyChanged = Event<
  'DefaultStrategyChanged',
  {
    readonly strategy: PlacementStrategy;
    readonly previous: PlacementStrategy;
    readonly at: string;
  }
>;

export type RegistrySettingsCommand = SetDefaultStrategy;
export type RegistrySettingsEvent = DefaultStrategyChanged;

export interface RegistrySettings {
  readonly strategy: PlacementStrategy;
  readonly changedAt: string | null;
}

export const initialSettings = (): RegistrySettings => ({
  strategy: INITIAL_STRATEGY,
  changedAt: null,
});

export function isStrategy(value: unknown): value is PlacementStrategy {
  return typeof value === 'string' && (PLACEMENT_STRATEGIES as readonly string[]).includes(value);
}

export function decideSettings(
  command: RegistrySettingsCommand,
  state: RegistrySettings,
): readonly RegistrySettingsEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'SetDefaultStrategy': {
      const { strategy } = command.data;
      if (!isStrategy(strategy)) {
        throw ValidationError.of(
          [{ path: 'strategy', message: `expected one of ${PLACEMENT_STRATEGIES.join(', ')}` }],
          'command',
        );
      }
      if (strategy === state.strategy) return [];
      return [{ type: 'DefaultStrategyChanged', data: { strategy, previous: state.strategy, at } }];
    }
    default: {
      const unknown: never = command.type;
      throw ValidationError.of(
        [{ path: 'type', message: `unknown settings command ${JSON.stringify(unknown)}` }],
        'command',
      );
    }
  }
}

export function evolveSettings(
  state: RegistrySettings,
  event: RegistrySettingsEvent,
): RegistrySettings {
  switch (event.type) {
    case 'DefaultStrategyChanged':
      return isStrategy(event.data.strategy)
        ? { strategy: event.data.strategy, changedAt: event.data.at }
        : state;
    default:
      return state;
  }
}

export const registrySettingsDecider: Decider<
  RegistrySettings,
  RegistrySettingsCommand,
  RegistrySettingsEvent
> = {
  decide: decideSettings,
  evolve: evolveSettings,
  initialState: initialSettings,
  // The default strategy is the whole fleet's.
  tenantOf: () => PLATFORM_TENANT,
};
