import { describe, expect, it } from '@jest/globals';
import { fold, ValidationError, type PlacementStrategy } from '@flotilla/domain';
import {
  registrySettingsDecider,
  type RegistrySettingsEvent,
} from './registry-settings.decider.js';

const NOW = '2026-03-01T10:00:00.000Z';
const set = (strategy: string) => ({
  type: 'SetDefaultStrategy' as const,
  data: { strategy: strategy as PlacementStrategy },
  metadata: { now: NOW },
});
const decide = (history: RegistrySettingsEvent[], strategy: string) =>
  registrySettingsDecider.decide(set(strategy), fold(registrySettingsDecider, history));

describe('registry settings decider', () => {
  it('starts at least-loaded and records a switch with what it replaced', () => {
    expect(registrySettingsDecider.initialState().strategy).toBe('least-loaded');
    expect(decide([], 'round-robin')).toEqual([
      {
        type: 'DefaultStrategyChanged',
        data: { strategy: 'round-robin', previous: 'least-loaded', at: NOW },
      },
    ]);
  });

  it('records nothing when the strategy is already the default', () => {
    const history = [...decide([], 'random')];
    expect(decide(history, 'random')).toEqual([]);
    expect(fold(registrySettingsDecider, history)).toEqual({ strategy: 'random', changedAt: NOW });
  });

  it('refuses an unknown strategy with a validation error naming the field', () => {
    expect(() => decide([], 'fastest')).toThrow(ValidationError);
    try {
      decide([], 'fastest');
    } catch (err) {
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['strategy']);
    }
  });
});
